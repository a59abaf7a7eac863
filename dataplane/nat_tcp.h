// TCP state tracking for NAT sessions: which timeout a session's idle time is
// held to. Modelled on RFC 6146 3.5.2.2 (NAT64's TCP state machine), with
// RFC 5382 REQ-5 for the two timeouts and RFC 7857 2.2 for RST. A pure
// function of the state, the direction and the flags byte: no I/O, no clock.
//
// "in" is a segment from the inside (the client side, in-to-out), "out" one
// from the outside. Flags are the TCP header's flags byte.
//
//                SYN in                     SYN out
//   closed ----------------> syn_out ----------------------+
//     |                                                    v
//     |        SYN out                      SYN in
//     +----------------------> syn_in ------------> established
//                                                    |       |
//                                             FIN in |       | FIN out
//                                                    v       v
//                                               fin_out     fin_in
//                                                    |       |
//                                            FIN out |       | FIN in
//                                                    v       v
//                                                   fin_both  (until it expires)
//
//   syn_out, syn_in, established, fin_out, fin_in, transitory --RST--> transitory
//   transitory --non-RST segment with ACK--> established, and the segment then
//                counts there (so FIN+ACK from the inside goes on to fin_out)
//   transitory --SYN without ACK, in/out--> syn_out / syn_in (a new open)
//
// Everything else keeps the state: retransmitted SYNs and FINs from the side
// that already sent them, data in any state, SYN in established or a FIN
// state, segments without SYN in closed (a session is only opened by a SYN),
// FIN before the handshake completes.
//
// Endpoint-independent filtering lets an outside host open a connection to a
// mapping, hence closed -> syn_in. A bare SYN from the outside in syn_out is a
// simultaneous open, handled like a SYN-ACK.
//
// RST (RFC 7857 2.2): a session is not deleted on RST but kept for the
// transitory timeout, so a stray or forged RST cannot kill a live connection
// at once: if the connection goes on, its next ACK brings the session back to
// established, as in RFC 6146's 4-minute TRANS state. Two states ignore RST:
// closed (an RST alone must not start a session that an ACK could then
// establish without a handshake) and fin_both (both sides have closed; it
// already has the transitory timeout, and going to transitory would let a
// late ACK revive it for two hours).
//
// Timeouts: established, fin_out and fin_in (a half-closed connection may
// still carry data for long) take the established idle timeout (RFC 5382:
// at least 2 h 4 min); closed, syn_out, syn_in, fin_both and transitory the
// transitory one (at least 4 min).
#pragma once

#include <cstdint>

namespace sluice {

enum class TcpState : uint8_t {
  closed,
  syn_out,      // SYN seen from the inside only
  syn_in,       // SYN seen from the outside only
  established,  // SYN seen from both sides
  fin_out,      // then FIN from the inside
  fin_in,       // then FIN from the outside
  fin_both,     // FIN from both sides
  transitory,   // RST seen
};
inline constexpr unsigned kTcpStates = 8;

// The flags byte (RTE_TCP_*_FLAG values).
inline constexpr uint8_t kTcpFlagFin = 0x01;
inline constexpr uint8_t kTcpFlagSyn = 0x02;
inline constexpr uint8_t kTcpFlagRst = 0x04;
inline constexpr uint8_t kTcpFlagAck = 0x10;

// The state after a segment in state s. from_inside: it came from the client
// side (in-to-out).
constexpr TcpState tcp_next(TcpState s, bool from_inside, uint8_t flags) noexcept {
  using enum TcpState;
  const bool syn = flags & kTcpFlagSyn;
  const bool fin = flags & kTcpFlagFin;
  if (flags & kTcpFlagRst) return s == closed || s == fin_both ? s : transitory;
  if (s == transitory) {
    if (flags & kTcpFlagAck)
      s = established;  // and the segment counts in established, below
    else if (syn)
      return from_inside ? syn_out : syn_in;
    else
      return transitory;
  }
  switch (s) {
    case closed:
      if (syn) return from_inside ? syn_out : syn_in;
      return closed;
    case syn_out:
      return syn && !from_inside ? established : syn_out;
    case syn_in:
      return syn && from_inside ? established : syn_in;
    case established:
      if (fin) return from_inside ? fin_out : fin_in;
      return established;
    case fin_out:
      return fin && !from_inside ? fin_both : fin_out;
    case fin_in:
      return fin && from_inside ? fin_both : fin_in;
    case fin_both:
    case transitory:
      break;
  }
  return s;
}

// True: the established idle timeout applies (RFC 5382: >= 2 h 4 min);
// false: the transitory one (>= 4 min).
constexpr bool tcp_uses_established_timeout(TcpState s) noexcept {
  return s == TcpState::established || s == TcpState::fin_out || s == TcpState::fin_in;
}

// For stats and logs: "closed", "syn-out", ...
constexpr const char* tcp_state_name(TcpState s) noexcept {
  switch (s) {
    case TcpState::closed:
      return "closed";
    case TcpState::syn_out:
      return "syn-out";
    case TcpState::syn_in:
      return "syn-in";
    case TcpState::established:
      return "established";
    case TcpState::fin_out:
      return "fin-out";
    case TcpState::fin_in:
      return "fin-in";
    case TcpState::fin_both:
      return "fin-both";
    case TcpState::transitory:
      return "transitory";
  }
  return "?";
}

}  // namespace sluice

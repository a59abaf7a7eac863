// An IPFIX decoder for tests, written from RFC 7011 alone and sharing no
// code or tables with control/ipfix.*: it reads a message's header, learns
// templates from template sets, and decodes data records by their template
// into (enterprise, element id) -> value. Anything malformed fails the test.
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

namespace sluice::test {

struct DecodedField {
  uint16_t id;
  uint16_t length;
  uint32_t enterprise;
};

struct DecodedRecord {
  uint16_t template_id;
  std::map<std::pair<uint32_t, uint16_t>, uint64_t> values;  // (enterprise, id) -> value
  uint64_t get(uint16_t id, uint32_t enterprise = 0) const {
    const auto it = values.find({enterprise, id});
    if (it == values.end()) FAIL("element " << enterprise << "/" << id << " missing");
    return it->second;
  }
  bool has(uint16_t id, uint32_t enterprise = 0) const {
    return values.count({enterprise, id}) != 0;
  }
};

struct DecodedMessage {
  uint16_t length = 0;
  uint32_t export_time = 0;
  uint32_t sequence = 0;
  uint32_t domain = 0;
  std::vector<uint16_t> template_ids;  // defined in this message
  std::vector<DecodedRecord> records;
};

class IpfixDecoder {
 public:
  DecodedMessage decode(const uint8_t* p, size_t size) {
    DecodedMessage m;
    REQUIRE(size >= 16);
    REQUIRE(u16(p) == 10);
    m.length = u16(p + 2);
    REQUIRE(m.length == size);
    m.export_time = u32(p + 4);
    m.sequence = u32(p + 8);
    m.domain = u32(p + 12);
    size_t at = 16;
    while (at < size) {
      REQUIRE(at + 4 <= size);
      const uint16_t set_id = u16(p + at);
      const uint16_t set_length = u16(p + at + 2);
      REQUIRE(set_length >= 4);
      REQUIRE(at + set_length <= size);
      const uint8_t* s = p + at + 4;
      const size_t body = set_length - 4u;
      if (set_id == 2) {
        templates_set(s, body, &m);
      } else {
        REQUIRE(set_id >= 256);
        REQUIRE(templates.count(set_id) == 1);
        const std::vector<DecodedField>& fields = templates[set_id];
        size_t record_length = 0;
        for (const DecodedField& f : fields)
          record_length += f.length;
        REQUIRE(record_length > 0);
        size_t off = 0;
        // Anything shorter than a record at the end is padding (RFC 7011 3.3.1).
        while (off + record_length <= body) {
          DecodedRecord r;
          r.template_id = set_id;
          for (const DecodedField& f : fields) {
            uint64_t v = 0;
            for (uint16_t i = 0; i < f.length; i++)
              v = v << 8 | s[off + i];
            r.values[{f.enterprise, f.id}] = v;
            off += f.length;
          }
          m.records.push_back(std::move(r));
        }
        REQUIRE(body - off < record_length);
      }
      at += set_length;
    }
    REQUIRE(at == size);
    return m;
  }

  std::map<uint16_t, std::vector<DecodedField>> templates;

 private:
  static uint16_t u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
  static uint32_t u32(const uint8_t* p) { return uint32_t{u16(p)} << 16 | u16(p + 2); }

  void templates_set(const uint8_t* s, size_t body, DecodedMessage* m) {
    size_t off = 0;
    while (off + 4 <= body) {
      const uint16_t id = u16(s + off);
      const uint16_t count = u16(s + off + 2);
      REQUIRE(id >= 256);
      off += 4;
      std::vector<DecodedField> fields;
      for (uint16_t i = 0; i < count; i++) {
        REQUIRE(off + 4 <= body);
        DecodedField f{static_cast<uint16_t>(u16(s + off) & 0x7fff), u16(s + off + 2), 0};
        const bool pen = (s[off] & 0x80) != 0;
        off += 4;
        if (pen) {
          REQUIRE(off + 4 <= body);
          f.enterprise = u32(s + off);
          off += 4;
        }
        REQUIRE(f.length != 0xffff);  // no variable-length fields here
        fields.push_back(f);
      }
      templates[id] = fields;
      m->template_ids.push_back(id);
    }
    REQUIRE(off == body);
  }
};

}  // namespace sluice::test

#pragma once
// A reader for Debian control files (deb822): the stanzas printed by `apt-cache dumpavail`, the
// Packages and Sources indexes, debian/control. The sddb demo imports them as documents, so this
// is example code built on the public API, not part of the sddb library.
//
// Format (Debian Policy §5.1): stanzas separated by blank lines; each line of a stanza is either
// "Name: value" or a continuation line starting with a space or tab that belongs to the field
// above. In multi-line fields such as Description, a continuation line " ." is an empty line.
// Errors are sddb::Error(invalid_argument) naming the source and line, e.g. "Packages:12: ...".

#include <cstdint>
#include <istream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sddb/value.h"

namespace sddb::debian {

struct ControlField {
  std::string name;   // as written, e.g. "Installed-Size"
  std::string value;  // first line trimmed; continuation lines follow after '\n', unmodified
  std::size_t line = 0;
};

struct Stanza {
  std::vector<ControlField> fields;
  std::size_t line = 0;  // line number of the first field, for messages

  // The field with this name (ASCII case-insensitive, as field names are), or nullptr.
  const ControlField* find(std::string_view name) const;
};

// Reads stanzas one at a time from a stream, so a 50 MB dumpavail never sits in memory twice.
// One reader belongs to one thread.
class ControlReader {
 public:
  // `source` names the input in messages ("-" reads as "<stdin>").
  ControlReader(std::istream& in, std::string source);

  // The next stanza, or nothing at the end of the input. A malformed line throws
  // Error(invalid_argument) "SOURCE:LINE: why"; the reader cannot continue after that.
  std::optional<Stanza> next();

  const std::string& source() const { return source_; }
  std::size_t lines_read() const { return line_no_; }
  std::uint64_t bytes_read() const { return bytes_; }

 private:
  std::istream& in_;
  std::string source_;
  std::size_t line_no_ = 0;
  std::uint64_t bytes_ = 0;
};

// All stanzas of a text; convenient for tests and small files.
std::vector<Stanza> parse_control(std::string_view text, std::string source = "<text>");

// The package names of a relationship field (Depends, Recommends, ...), in order, without
// repeats. Version constraints "(>= 1.2)", architecture qualifiers ":any", architecture lists
// "[amd64]" and build profiles "<!nocheck>" are dropped; every alternative of "a | b" is kept,
// because the question the demo asks is "which packages may pull in X", and either branch can.
std::vector<std::string> relationship_names(std::string_view field);

// Description split per Policy §5.6.13: the synopsis (first line) and the extended description
// with the one leading space of each line removed and " ." lines turned into empty lines.
struct Description {
  std::string synopsis;
  std::string extended;  // empty when the package has none
};
Description split_description(std::string_view value);

// The document of one binary package stanza:
//   name, version, source, section, priority, architecture, maintainer, homepage, multi_arch
//                                                    strings, absent when the field is absent
//   size (bytes of the .deb), installed_size (KiB)   integers, as written in the file
//   depends, pre_depends, recommends, suggests, provides, conflicts, breaks
//                                                    arrays of names (relationship_names)
//   tags                                             array of debtags, e.g. "role::program"
//   description, long_description                    synopsis and extended description
//                                                    (long_description absent when empty)
// Fields the demo does not use (checksums, Filename, ...) are left out. A stanza without
// Package, or a size that is not a non-negative integer, throws Error(invalid_argument) naming
// SOURCE:LINE of the field.
Document package_document(const Stanza& stanza, std::string_view source);

}  // namespace sddb::debian

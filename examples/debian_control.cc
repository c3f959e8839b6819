#include "debian_control.h"

#include <charconv>
#include <sstream>
#include <utility>

#include "sddb/error.h"

namespace sddb::debian {

namespace {

[[noreturn]] void fail(std::string_view source, std::size_t line, const std::string& why) {
  throw Error(ErrorCode::invalid_argument,
              std::string(source) + ":" + std::to_string(line) + ": " + why);
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Printable US-ASCII except the colon (Policy §5.1); '-' and '#' may not start a name, which
// keeps comment lines and a stray "-----BEGIN PGP" from being read as fields.
std::optional<std::string> bad_field_name(std::string_view name) {
  if (name.empty()) return "empty field name";
  if (name.front() == '-' || name.front() == '#') {
    return "field name '" + std::string(name) + "' must not start with '-' or '#'";
  }
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 32 || u >= 127) return "field name contains a space or a non-ASCII character";
  }
  return std::nullopt;
}

// Documents must hold valid UTF-8 (JSON text is UTF-8), so a bad byte is reported at its line
// rather than failing later, far from the input, in the database.
bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t n;
    std::uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
    static constexpr std::uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

}  // namespace

const ControlField* Stanza::find(std::string_view name) const {
  for (const ControlField& f : fields) {
    if (iequals(f.name, name)) return &f;
  }
  return nullptr;
}

ControlReader::ControlReader(std::istream& in, std::string source)
    : in_(in), source_(std::move(source)) {
  if (source_ == "-") source_ = "<stdin>";
}

std::optional<Stanza> ControlReader::next() {
  Stanza stanza;
  std::string line;
  while (std::getline(in_, line)) {
    ++line_no_;
    bytes_ += line.size() + (in_.eof() ? 0 : 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!valid_utf8(line)) fail(source_, line_no_, "invalid UTF-8");
    // Whitespace-only lines separate stanzas too: Policy forbids them inside a field (" ." is
    // the empty line there), and treating them as separators is what dpkg and python-debian do.
    if (trim(line).empty()) {
      if (!stanza.fields.empty()) return stanza;
      continue;
    }
    if (line.front() == ' ' || line.front() == '\t') {
      if (stanza.fields.empty()) {
        fail(source_, line_no_, "continuation line (starting with a space) before any field");
      }
      stanza.fields.back().value += '\n';
      stanza.fields.back().value += line;
      continue;
    }
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) {
      fail(source_, line_no_, "expected 'Field: value', a continuation line or a blank line");
    }
    std::string_view name(line.data(), colon);
    if (auto why = bad_field_name(name)) fail(source_, line_no_, *why);
    if (const ControlField* dup = stanza.find(name)) {
      fail(
          source_, line_no_,
          "field '" + std::string(name) + "' repeats the one at line " + std::to_string(dup->line));
    }
    if (stanza.fields.empty()) stanza.line = line_no_;
    stanza.fields.push_back(
        {std::string(name), std::string(trim(std::string_view(line).substr(colon + 1))), line_no_});
  }
  if (in_.bad()) fail(source_, line_no_, "read error");
  if (!stanza.fields.empty()) return stanza;
  return std::nullopt;
}

std::vector<Stanza> parse_control(std::string_view text, std::string source) {
  std::istringstream in{std::string(text)};
  ControlReader reader(in, std::move(source));
  std::vector<Stanza> out;
  while (auto s = reader.next()) out.push_back(std::move(*s));
  return out;
}

std::vector<std::string> relationship_names(std::string_view field) {
  std::vector<std::string> names;
  std::size_t start = 0;
  while (start <= field.size()) {
    std::size_t end = field.find_first_of(",|", start);
    if (end == std::string_view::npos) end = field.size();
    std::string_view part = trim(field.substr(start, end - start));
    // The name ends where a version, architecture qualifier or restriction list begins.
    const std::size_t stop = part.find_first_of(" \t\n\r([<:");
    std::string_view name = part.substr(0, stop);
    if (!name.empty()) {
      bool seen = false;
      for (const std::string& n : names) seen = seen || n == name;
      if (!seen) names.emplace_back(name);
    }
    start = end + 1;
  }
  return names;
}

Description split_description(std::string_view value) {
  Description d;
  const std::size_t nl = value.find('\n');
  d.synopsis = std::string(trim(value.substr(0, nl)));
  if (nl == std::string_view::npos) return d;
  std::string_view rest = value.substr(nl + 1);
  bool first = true;
  while (true) {
    const std::size_t e = rest.find('\n');
    std::string_view line = rest.substr(0, e);
    // One leading space marks a continuation line; more are the text's own indentation
    // (Policy §5.6.13 shows such lines verbatim).
    if (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line == ".") line = {};
    if (!first) d.extended += '\n';
    d.extended += line;
    first = false;
    if (e == std::string_view::npos) break;
    rest = rest.substr(e + 1);
  }
  return d;
}

Document package_document(const Stanza& stanza, std::string_view source) {
  const ControlField* package = stanza.find("Package");
  if (package == nullptr) {
    fail(source, stanza.line, "stanza has no Package field");
  }
  if (package->value.empty() || package->value.find_first_of(" \t\n") != std::string::npos) {
    fail(source, package->line, "Package must be one word, got '" + package->value + "'");
  }
  Document doc = Value::object();
  doc.set("name", package->value);

  auto text = [&](const char* field, const char* key) {
    if (const ControlField* f = stanza.find(field)) doc.set(key, std::string(trim(f->value)));
  };
  auto integer = [&](const char* field, const char* key) {
    const ControlField* f = stanza.find(field);
    if (f == nullptr) return;
    std::int64_t n = 0;
    const char* b = f->value.data();
    const char* e = b + f->value.size();
    auto [ptr, ec] = std::from_chars(b, e, n);
    if (ec != std::errc() || ptr != e || f->value.empty() || f->value.front() == '-') {
      fail(source, f->line,
           std::string(field) + " must be a non-negative integer, got '" + f->value + "'");
    }
    doc.set(key, n);
  };
  auto names = [&](const char* field, const char* key) {
    if (const ControlField* f = stanza.find(field)) {
      Array a;
      for (std::string& n : relationship_names(f->value)) a.emplace_back(std::move(n));
      doc.set(key, Value(std::move(a)));
    }
  };

  text("Version", "version");
  if (const ControlField* f = stanza.find("Source")) {
    // "Source: foo (1.2-3)" names the source version when it differs; the name is enough here.
    std::string_view v = trim(f->value);
    doc.set("source", std::string(trim(v.substr(0, v.find('(')))));
  }
  text("Section", "section");
  text("Priority", "priority");
  text("Architecture", "architecture");
  text("Maintainer", "maintainer");
  text("Homepage", "homepage");
  text("Multi-Arch", "multi_arch");
  integer("Size", "size");
  integer("Installed-Size", "installed_size");
  names("Depends", "depends");
  names("Pre-Depends", "pre_depends");
  names("Recommends", "recommends");
  names("Suggests", "suggests");
  names("Provides", "provides");
  names("Conflicts", "conflicts");
  names("Breaks", "breaks");
  if (const ControlField* f = stanza.find("Tag")) {
    Array tags;
    std::string_view v = f->value;
    while (!v.empty()) {
      const std::size_t comma = v.find(',');
      std::string_view t = trim(v.substr(0, comma));
      if (!t.empty()) tags.emplace_back(t);
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
    doc.set("tags", Value(std::move(tags)));
  }
  if (const ControlField* f = stanza.find("Description")) {
    Description d = split_description(f->value);
    doc.set("description", std::move(d.synopsis));
    if (!d.extended.empty()) doc.set("long_description", std::move(d.extended));
  }
  return doc;
}

}  // namespace sddb::debian

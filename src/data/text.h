// Small text helpers of the data readers (CSV, .ts).
#pragma once

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <istream>
#include <stdexcept>
#include <string>
#include <vector>

namespace ssm::data {

// Fields of `s` between separators: "a,,b," -> {"a", "", "b", ""}; "" -> {""}.
inline std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t at = s.find(sep, start);
    out.push_back(s.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) return out;
    start = at + 1;
  }
}

inline std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

// The longest line a reader accepts: far beyond any real record of these formats (a UEA case of 6 dimensions x 18,000
// steps is about 1 MB; an LRA ListOps line 10 KB), small enough that a wrong or hostile file cannot exhaust memory.
constexpr size_t kMaxLineBytes = size_t(64) << 20;

// std::getline with a bound: reads the next line (the '\n' dropped, a trailing '\r' too) into `line` and counts it in
// `line_no`; false at the end of the file. A line longer than max_bytes is an error naming the file and line, raised
// before more than max_bytes are held.
inline bool read_line(std::istream& in, std::string& line, int64_t& line_no, const std::string& path,
                      size_t max_bytes = kMaxLineBytes) {
  line.clear();
  std::streambuf* sb = in.rdbuf();
  if (!sb || sb->sgetc() == std::char_traits<char>::eof()) return false;
  ++line_no;
  for (;;) {
    const int c = sb->sbumpc();
    if (c == std::char_traits<char>::eof() || c == '\n') break;
    if (line.size() >= max_bytes)
      throw std::runtime_error(path + ":" + std::to_string(line_no) + ": line longer than " +
                               std::to_string(max_bytes >> 20) + " MiB: not a file of this format?");
    line.push_back(static_cast<char>(c));
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return true;
}

// `s` for an error message: control bytes as \xNN, so that a NUL does not end the message and a line break does not
// split it; at most 80 bytes of it.
inline std::string printable(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < 80; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F) {
      const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > 80) out += "...";
  return out;
}

inline std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

}  // namespace ssm::data

// PNG files through libpng (Debian: libpng-dev): 8-bit grayscale images in and out. Free of torch headers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ssm::data {

struct GrayImage {
  int64_t height = 0, width = 0;
  std::vector<uint8_t> pixels;  // row-major, height * width
};

// Decodes a PNG file to 8-bit gray: gray files as they are, colour ones with PIL's convert("L") weights (L = R 299/1000
// + G 587/1000 + B 114/1000), alpha dropped. A missing, empty, truncated or corrupt file throws std::runtime_error
// naming the path and libpng's reason.
GrayImage read_png_gray(const std::string& path);
// The same into `out` (height * width bytes) when the image is exactly height x width; else the error names the
// size found.
void read_png_gray_into(const std::string& path, int64_t height, int64_t width, uint8_t* out);
// Writes an 8-bit grayscale PNG (not atomically: the callers write into fresh folders).
void write_png_gray(const std::string& path, const GrayImage& img);

}  // namespace ssm::data

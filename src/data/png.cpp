#include "data/png.h"

#include <png.h>

#include <cstring>
#include <memory>
#include <stdexcept>

namespace ssm::data {
namespace {

struct Reader {
  png_image img;
  Reader() {
    std::memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
  }
  ~Reader() { png_image_free(&img); }
};

[[noreturn]] void fail(const std::string& path, const png_image& img, const char* what) {
  const std::string msg = (img.warning_or_error & PNG_IMAGE_ERROR) && img.message[0] ? img.message : what;
  throw std::runtime_error(path + ": not a readable PNG image (" + msg + ")");
}

// Reads the image at `path` into `out`, after `check` has seen its size.
template <typename Check>
void read(const std::string& path, Check check, std::vector<uint8_t>* grow, uint8_t* out) {
  Reader r;
  if (!png_image_begin_read_from_file(&r.img, path.c_str())) fail(path, r.img, "cannot open or read its header");
  const bool colour = (r.img.format & PNG_FORMAT_FLAG_COLOR) != 0;
  const int64_t h = r.img.height, w = r.img.width;
  check(h, w);
  if (grow) {
    grow->resize(static_cast<size_t>(h * w));
    out = grow->data();
  }
  if (!colour) {
    r.img.format = PNG_FORMAT_GRAY;
    if (!png_image_finish_read(&r.img, nullptr, out, 0, nullptr)) fail(path, r.img, "corrupt data");
    return;
  }
  r.img.format = PNG_FORMAT_RGB;
  std::vector<uint8_t> rgb(static_cast<size_t>(h * w * 3));
  if (!png_image_finish_read(&r.img, nullptr, rgb.data(), 0, nullptr)) fail(path, r.img, "corrupt data");
  for (int64_t i = 0; i < h * w; ++i)
    out[i] = static_cast<uint8_t>((rgb[3 * i] * 299 + rgb[3 * i + 1] * 587 + rgb[3 * i + 2] * 114) / 1000);
}

}  // namespace

GrayImage read_png_gray(const std::string& path) {
  GrayImage g;
  read(path, [&](int64_t h, int64_t w) {
    if (h * w > (int64_t(1) << 24)) throw std::runtime_error(path + ": image of " + std::to_string(h) + " x " +
                                                             std::to_string(w) + " pixels is too large");
    g.height = h;
    g.width = w;
  }, &g.pixels, nullptr);
  return g;
}

void read_png_gray_into(const std::string& path, int64_t height, int64_t width, uint8_t* out) {
  read(path, [&](int64_t h, int64_t w) {
    if (h != height || w != width)
      throw std::runtime_error(path + ": image of " + std::to_string(h) + " x " + std::to_string(w) +
                               " pixels, expected " + std::to_string(height) + " x " + std::to_string(width));
  }, nullptr, out);
}

void write_png_gray(const std::string& path, const GrayImage& g) {
  if (g.height < 1 || g.width < 1 || g.pixels.size() != static_cast<size_t>(g.height * g.width))
    throw std::invalid_argument("write_png_gray: " + path + ": pixels do not match the size");
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  img.width = static_cast<png_uint_32>(g.width);
  img.height = static_cast<png_uint_32>(g.height);
  img.format = PNG_FORMAT_GRAY;
  const int ok = png_image_write_to_file(&img, path.c_str(), 0, g.pixels.data(), 0, nullptr);
  const std::string msg = img.message;
  png_image_free(&img);
  if (!ok) throw std::runtime_error("cannot write " + path + ": " + msg);
}

}  // namespace ssm::data

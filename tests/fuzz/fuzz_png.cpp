// Fuzz target: the PNG reader (src/data/png, libpng's simplified API) and the CIFAR-10 batch reader
// (src/data/images) on the same bytes.
// Failures must be std::runtime_error naming the file; a decoded image has as many pixels as its size says, and
// decodes again to the same pixels into a buffer of that size; a CIFAR batch is whole 3,073-byte records with labels
// 0-9.
#include "data/images.h"
#include "data/png.h"
#include "fuzz_support.h"

#include <stdexcept>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ssm::data;
  const std::string bytes = ssm::fuzz::as_string(data, size);
  const std::string png = ssm::fuzz::write_file("image.png", bytes);
  try {
    const GrayImage g = read_png_gray(png);
    if (g.height < 1 || g.width < 1 || g.pixels.size() != static_cast<size_t>(g.height * g.width))
      ssm::fuzz::broken("pixel count differs from the size");
    std::vector<uint8_t> again(g.pixels.size());
    read_png_gray_into(png, g.height, g.width, again.data());
    if (again != g.pixels) ssm::fuzz::broken("two decodes differ");
    try {
      read_png_gray_into(png, g.height + 1, g.width, again.data());
      ssm::fuzz::broken("a wrong size was accepted");
    } catch (const std::runtime_error&) {
    }
  } catch (const std::runtime_error& e) {
    if (std::string(e.what()).find(png) == std::string::npos) ssm::fuzz::broken("a PNG error without the file");
  }
  const std::string bin = ssm::fuzz::write_file("data_batch_1.bin", bytes);
  try {
    const at::Tensor r = read_cifar_batch(bin);
    if (r.dim() != 2 || r.size(1) != 3073 || r.size(0) * 3073 != static_cast<int64_t>(size))
      ssm::fuzz::broken("CIFAR records");
    const uint8_t* p = r.data_ptr<uint8_t>();
    for (int64_t i = 0; i < r.size(0); ++i)
      if (p[i * 3073] > 9) ssm::fuzz::broken("CIFAR label past 9");
  } catch (const std::runtime_error& e) {
    if (std::string(e.what()).find(bin) == std::string::npos) ssm::fuzz::broken("a CIFAR error without the file");
  }
  return 0;
}

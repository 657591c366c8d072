// Long Range Arena tasks held in compact storage (data/store.h): ListOps, text and retrieval over ragged token
// sequences padded per batch to the longest of the batch, and pixel-sequence classification over uint8 images
// converted per batch.
#pragma once

#include "data/images.h"
#include "data/lra_text.h"
#include "tasks/classify.h"

namespace ssm::tasks {

// ListOps and IMDB (one sequence) and AAN (two documents through the retrieval head).
class TextTask : public ClassifierTask {
 public:
  TextTask(std::string name, data::TextData d) : name_(std::move(name)), d_(std::move(d)) {}
  std::string name() const override { return name_; }
  model::ModelShape model_shape() const override;
  int64_t size(SplitId s) const override { return split(s).size(); }
  Batch batch(SplitId s, const at::Tensor& index) const override;
  const data::TextData& data() const { return d_; }
  bool retrieval() const { return d_.train.x2.offsets.defined(); }

 private:
  const data::TextSplit& split(SplitId s) const;
  std::string name_;
  data::TextData d_;
};

// CIFAR-10 and Pathfinder: pixels as tokens or values.
class ImageTask : public ClassifierTask {
 public:
  ImageTask(std::string name, data::ImageData d, data::PixelEncoding e)
      : name_(std::move(name)), d_(std::move(d)), enc_(std::move(e)) {}
  std::string name() const override { return name_; }
  model::ModelShape model_shape() const override;
  int64_t size(SplitId s) const override { return split(s).size(); }
  Batch batch(SplitId s, const at::Tensor& index) const override;
  const data::ImageData& data() const { return d_; }
  const data::PixelEncoding& encoding() const { return enc_; }

 private:
  const data::ImageSplit& split(SplitId s) const;
  std::string name_;
  data::ImageData d_;
  data::PixelEncoding enc_;
};

}  // namespace ssm::tasks

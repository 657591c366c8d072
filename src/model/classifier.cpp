#include "model/classifier.h"

#include <torch/torch.h>

#include <stdexcept>

namespace ssm::model {

ClassifierImpl::ClassifierImpl(const ClassifierOptions& o) : o_(o) {
  const int64_t H = o.layer.d_model;
  if (o.norm != "layer" && o.norm != "batch")
    throw std::invalid_argument("model.norm must be layer or batch, got '" + o.norm + "'");
  if (o.pooling != "mean" && o.pooling != "last")
    throw std::invalid_argument("model.pooling must be mean or last, got '" + o.pooling + "'");
  if (o.vocab_size > 0)
    embed = register_module("embed", torch::nn::Embedding(o.vocab_size, H));
  else
    encode = register_module("encode", torch::nn::Linear(o.d_input, H));
  if (o.layer_type != "s4d" && o.layer_type != "s5" && o.layer_type != "longconv")
    throw std::invalid_argument("model.layer must be s4d, s5 or longconv, got '" + o.layer_type + "'");
  for (int64_t i = 0; i < o.n_layers; ++i) {
    std::shared_ptr<layers::SequenceLayer> layer;
    if (o.layer_type == "s5") {
      layers::S5Options s5 = o.s5;
      s5.d_model = H;
      s5.dropout = o.layer.dropout;
      s5.bidirectional = o.layer.bidirectional;
      layer = std::make_shared<layers::S5Impl>(s5);
    } else if (o.layer_type == "longconv") {
      layers::LongConvOptions lc = o.longconv;
      lc.d_model = H;
      lc.dropout = o.layer.dropout;
      lc.bidirectional = o.layer.bidirectional;
      layer = std::make_shared<layers::LongConvImpl>(lc);
    } else {
      layer = std::make_shared<layers::S4DImpl>(o.layer);
    }
    blocks_.push_back(register_module("block" + std::to_string(i), layer));
    if (o.norm == "layer")
      norms_.push_back(register_module("norm" + std::to_string(i),
                                       torch::nn::LayerNorm(torch::nn::LayerNormOptions({H}))));
    else
      norms_.push_back(register_module("norm" + std::to_string(i), torch::nn::BatchNorm1d(H)));
  }
  drop = register_module("drop", torch::nn::Dropout(o.dropout));
  decode = register_module("decode", torch::nn::Linear(H, o.n_classes));
}

torch::Tensor ClassifierImpl::normalize(size_t i, const torch::Tensor& x) {
  if (o_.norm == "layer") return std::static_pointer_cast<torch::nn::LayerNormImpl>(norms_[i])->forward(x);
  // BatchNorm over channels: (B, L, H) -> (B, H, L) and back.
  return std::static_pointer_cast<torch::nn::BatchNorm1dImpl>(norms_[i])->forward(x.transpose(1, 2)).transpose(1, 2);
}

torch::Tensor ClassifierImpl::forward(const torch::Tensor& x, const torch::Tensor& lengths) {
  torch::Tensor h;
  if (o_.vocab_size > 0) {
    TORCH_CHECK(x.dim() == 2, "Classifier: token input must have shape (B, L), got ", x.sizes());
    h = embed(x);
  } else {
    TORCH_CHECK(x.dim() == 3 && x.size(2) == o_.d_input, "Classifier: input must have shape (B, L, ", o_.d_input,
                "), got ", x.sizes());
    h = encode(x);
  }
  for (size_t i = 0; i < blocks_.size(); ++i) {
    if (o_.prenorm)
      h = h + drop(blocks_[i]->forward(normalize(i, h)));
    else
      h = normalize(i, h + drop(blocks_[i]->forward(h)));
  }
  const int64_t B = h.size(0), L = h.size(1);
  torch::Tensor pooled;
  if (!lengths.defined()) {
    pooled = o_.pooling == "mean" ? h.mean(1) : h.select(1, L - 1);
  } else if (o_.pooling == "mean") {
    const torch::Tensor mask =
        (torch::arange(L, lengths.options()).unsqueeze(0) < lengths.unsqueeze(1)).to(h.scalar_type());  // (B, L)
    pooled = (h * mask.unsqueeze(-1)).sum(1) / lengths.clamp_min(1).to(h.scalar_type()).unsqueeze(-1);
  } else {
    const torch::Tensor idx = (lengths - 1).clamp_min(0).view({B, 1, 1}).expand({B, 1, h.size(2)});
    pooled = h.gather(1, idx).squeeze(1);
  }
  return decode(pooled);
}

std::vector<torch::Tensor> ClassifierImpl::ssm_parameters() const {
  std::vector<torch::Tensor> out;
  for (const auto& b : blocks_)
    for (const auto& p : b->ssm_parameters()) out.push_back(p);
  return out;
}

}  // namespace ssm::model

namespace ssm::model {

std::vector<torch::Tensor> ClassifierImpl::butterfly_parameters() const {
  std::vector<torch::Tensor> out;
  for (const auto& b : blocks_)
    for (const auto& p : b->butterfly_parameters()) out.push_back(p);
  return out;
}

}  // namespace ssm::model

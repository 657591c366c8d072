#include "model/model.h"

#include <torch/nn/functional/activation.h>
#include <torch/torch.h>

#include <stdexcept>

namespace ssm::model {

RMSNormImpl::RMSNormImpl(int64_t dim, double eps) : eps_(eps) {
  weight = register_parameter("weight", torch::ones({dim}));
}

at::Tensor RMSNormImpl::forward(const at::Tensor& x) {
  return x * torch::rsqrt(x.pow(2).mean(-1, true) + eps_) * weight;
}

BackboneImpl::BackboneImpl(const ModelOptions& o) : prenorm_(o.prenorm), norm_(o.norm) {
  if (o.norm != "layer" && o.norm != "batch" && o.norm != "rms")
    throw std::invalid_argument("model.norm must be layer, batch or rms, got '" + o.norm + "'");
  if (!o.make_layer) throw std::invalid_argument("Backbone: no layer factory (ModelOptions::make_layer)");
  for (int64_t i = 0; i < o.n_layers; ++i) {
    blocks_.push_back(register_module("block" + std::to_string(i), o.make_layer()));
    if (o.norm == "layer")
      norms_.push_back(register_module("norm" + std::to_string(i),
                                       torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.d_model}))));
    else if (o.norm == "rms")
      norms_.push_back(register_module("norm" + std::to_string(i), RMSNorm(o.d_model)));
    else
      norms_.push_back(register_module("norm" + std::to_string(i), torch::nn::BatchNorm1d(o.d_model)));
  }
  drop = register_module("drop", torch::nn::Dropout(o.dropout));
}

at::Tensor BackboneImpl::normalize(size_t i, const at::Tensor& x) {
  if (norm_ == "layer") return std::static_pointer_cast<torch::nn::LayerNormImpl>(norms_[i])->forward(x);
  if (norm_ == "rms") return std::static_pointer_cast<RMSNormImpl>(norms_[i])->forward(x);
  // BatchNorm over channels: (B, L, H) -> (B, H, L) and back.
  return std::static_pointer_cast<torch::nn::BatchNorm1dImpl>(norms_[i])->forward(x.transpose(1, 2)).transpose(1, 2);
}

at::Tensor BackboneImpl::forward(const at::Tensor& x, const layers::SequenceContext& ctx) {
  // (B, L, 1) true at valid positions, or undefined. where(), not a product: NaN in the padding must not leak.
  const at::Tensor valid = ctx.lengths.defined() ? ctx.mask(x) > 0 : at::Tensor();
  auto masked = [&](const at::Tensor& u) {
    return valid.defined() ? torch::where(valid, u, torch::zeros({}, u.options())) : u;
  };
  at::Tensor h = x;
  for (size_t i = 0; i < blocks_.size(); ++i) {
    if (prenorm_)
      h = h + drop(blocks_[i]->forward(masked(normalize(i, h)), ctx));
    else
      h = normalize(i, h + drop(blocks_[i]->forward(masked(h), ctx)));
  }
  return h;
}

at::Tensor pool(const at::Tensor& h, const at::Tensor& lengths, const std::string& pooling) {
  const int64_t B = h.size(0), L = h.size(1);
  if (!lengths.defined()) return pooling == "mean" ? h.mean(1) : h.select(1, L - 1);
  if (pooling == "mean") {
    const at::Tensor valid = (torch::arange(L, lengths.options()).unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(-1);
    const at::Tensor kept = torch::where(valid, h, torch::zeros({}, h.options()));  // (B, L, H)
    return kept.sum(1) / lengths.clamp_min(1).to(h.scalar_type()).unsqueeze(-1);
  }
  const at::Tensor idx = (lengths - 1).clamp_min(0).view({B, 1, 1}).expand({B, 1, h.size(2)});
  return h.gather(1, idx).squeeze(1);
}

SequenceModelImpl::SequenceModelImpl(const ModelOptions& o) : o_(o) {
  const ModelShape& s = o.shape;
  const int64_t H = o.d_model;
  if (o.pooling != "mean" && o.pooling != "last")
    throw std::invalid_argument("model.pooling must be mean or last, got '" + o.pooling + "'");
  const bool independent = s.head == ModelShape::Head::kForecast && s.channel_independent;
  grid_ = o.variate_grid && s.vocab_size == 0 && s.d_input > 1 && s.head != ModelShape::Head::kForecast;
  if (s.vocab_size > 0)
    embed = register_module("embed", torch::nn::Embedding(s.vocab_size, H));
  else
    encode = register_module("encode", torch::nn::Linear(independent || grid_ ? 1 : s.d_input, H));
  backbone_ = register_module("backbone", Backbone(o));
  if (o.variate_embedding) {
    if (!independent && !grid_)
      throw std::invalid_argument(
          "model.variate_embedding needs inputs encoded one variate at a time: channel-independent forecasting, or "
          "real multivariate classification / retrieval with a variate-mixing layer (chimera)");
    const int64_t V = independent ? s.variates : s.d_input;
    variate_embed = register_parameter("variate_embed", torch::randn({V, H}) * 0.1);
  }
  switch (s.head) {
    case ModelShape::Head::kClassify:
      if (s.n_classes < 1) throw std::invalid_argument("SequenceModel: a classification head needs n_classes >= 1");
      decode = register_module("decode", torch::nn::Linear(H, s.n_classes));
      break;
    case ModelShape::Head::kRetrieval:
      if (s.n_classes < 1) throw std::invalid_argument("SequenceModel: a retrieval head needs n_classes >= 1");
      hidden = register_module("hidden", torch::nn::Linear(4 * H, H));
      classify = register_module("classify", torch::nn::Linear(H, s.n_classes));
      break;
    case ModelShape::Head::kForecast: {
      if (s.lookback < 1 || s.horizon < 1 || s.variates < 1)
        throw std::invalid_argument("SequenceModel: a forecasting head needs look-back, horizon and variates >= 1");
      const int64_t outputs = independent ? 1 : s.out_index >= 0 ? 1 : s.variates;
      over_time = register_module("over_time", torch::nn::Linear(s.lookback, s.horizon));
      to_variates = register_module("to_variates", torch::nn::Linear(H, outputs));
      if (s.revin) {
        revin_weight = register_parameter("revin_weight", torch::ones({s.variates}));
        revin_bias = register_parameter("revin_bias", torch::zeros({s.variates}));
      }
      break;
    }
  }
}

at::Tensor SequenceModelImpl::features(const at::Tensor& x, const at::Tensor& lengths, int64_t variates) {
  at::Tensor h;
  if (o_.shape.vocab_size > 0) {
    TORCH_CHECK(x.dim() == 2, "SequenceModel: token input must have shape (B, L), got ", x.sizes());
    h = embed(x);
  } else {
    TORCH_CHECK(x.dim() == 3 && x.size(2) == encode->options.in_features(), "SequenceModel: input must have shape (B, L, ",
                encode->options.in_features(), "), got ", x.sizes());
    h = encode(x);
    if (variate_embed.defined()) {  // rows b V + v hold variate v
      const int64_t V = variate_embed.size(0);
      TORCH_CHECK(variates == V && h.size(0) % V == 0, "SequenceModel: the variate embedding expects groups of ", V,
                  " rows, got ", h.size(0), " rows in groups of ", variates);
      h = (h.view({-1, V, h.size(1), h.size(2)}) + variate_embed.view({1, V, 1, -1})).view(h.sizes());
    }
  }
  layers::SequenceContext ctx;
  ctx.lengths = lengths;
  ctx.variates = variates;
  return backbone_(h, ctx);
}

at::Tensor SequenceModelImpl::pooled_grid(const at::Tensor& x, const at::Tensor& lengths) {
  const int64_t V = o_.shape.d_input;
  TORCH_CHECK(x.dim() == 3 && x.size(2) == V, "SequenceModel: input must have shape (B, L, ", V, "), got ", x.sizes());
  const int64_t B = x.size(0), L = x.size(1);
  const at::Tensor rows = x.transpose(1, 2).reshape({B * V, L, 1});  // row b V + v: variate v of sample b
  const at::Tensor row_lengths = lengths.defined() ? lengths.repeat_interleave(V) : at::Tensor();
  const at::Tensor h = pool(features(rows, row_lengths, V), row_lengths, o_.pooling);  // (B V, H)
  return h.view({B, V, -1}).mean(1);
}

at::Tensor SequenceModelImpl::forecast(const at::Tensor& x) {
  const ModelShape& s = o_.shape;
  TORCH_CHECK(x.dim() == 3 && x.size(1) == s.lookback && x.size(2) == s.variates,
              "SequenceModel: forecasting input must have shape (B, ", s.lookback, ", ", s.variates, "), got ",
              x.sizes());
  const int64_t B = x.size(0), L = s.lookback, V = s.variates;
  at::Tensor u = x, mean, sd;
  if (s.revin) {
    mean = x.mean(1, true).detach();                                                  // (B, 1, V)
    sd = torch::sqrt(x.var(1, /*unbiased=*/false, true) + 1e-5).detach();             // (B, 1, V)
    u = (x - mean) / sd * revin_weight + revin_bias;
  }
  at::Tensor y;
  if (s.channel_independent) {
    const at::Tensor h = features(u.transpose(1, 2).reshape({B * V, L, 1}), {}, V);    // (B V, L, H)
    y = to_variates(over_time(h.transpose(1, 2)).transpose(1, 2));                     // (B V, T, 1)
    y = y.view({B, V, s.horizon}).transpose(1, 2);                                     // (B, T, V)
  } else {
    const at::Tensor h = features(u);                                                  // (B, L, H)
    y = to_variates(over_time(h.transpose(1, 2)).transpose(1, 2));                     // (B, T, V or 1)
  }
  if (s.revin) {
    if (y.size(2) == V) {
      y = (y - revin_bias) / (revin_weight + 1e-10) * sd + mean;
    } else {  // mixing with one output: the target variate's statistics
      const int64_t t = s.out_index;
      y = (y - revin_bias[t]) / (revin_weight[t] + 1e-10) * sd.narrow(2, t, 1) + mean.narrow(2, t, 1);
    }
  }
  if (s.out_index >= 0 && y.size(2) == V) y = y.narrow(2, s.out_index, 1);
  return y;
}

at::Tensor SequenceModelImpl::forward(const tasks::Batch& b) {
  switch (o_.shape.head) {
    case ModelShape::Head::kClassify:
      if (grid_) return decode(pooled_grid(b.x, b.lengths));
      return decode(pool(features(b.x, b.lengths), b.lengths, o_.pooling));
    case ModelShape::Head::kRetrieval: {
      TORCH_CHECK(b.x2.defined(), "SequenceModel: the retrieval head needs two inputs (Batch::x2)");
      auto pooled = [&](const at::Tensor& x, const at::Tensor& lengths) {
        return grid_ ? pooled_grid(x, lengths) : pool(features(x, lengths), lengths, o_.pooling);
      };
      const at::Tensor a = pooled(b.x, b.lengths);
      const at::Tensor c = pooled(b.x2, b.lengths2);
      return classify(torch::gelu(hidden(torch::cat({a, c, a * c, a - c}, -1))));
    }
    case ModelShape::Head::kForecast:
      return forecast(b.x);
  }
  throw std::logic_error("SequenceModel: unknown head");
}

std::vector<at::Tensor> SequenceModelImpl::ssm_parameters() const {
  std::vector<at::Tensor> out;
  for (const auto& l : backbone_->layers())
    for (const auto& p : l->ssm_parameters()) out.push_back(p);
  return out;
}

std::vector<at::Tensor> SequenceModelImpl::butterfly_parameters() const {
  std::vector<at::Tensor> out;
  for (const auto& l : backbone_->layers())
    for (const auto& p : l->butterfly_parameters()) out.push_back(p);
  return out;
}

}  // namespace ssm::model

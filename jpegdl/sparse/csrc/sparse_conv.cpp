// Compiled inner loops of jpegdl.sparse: im2col and MEC lowering (GEMMs through ATen/MKL),
// CPO and CPS encoders and their scatter-style sparse convolutions.
//
// Conventions (all float32, CPU, contiguous):
//   input  x       [N, C, H, W]   (NCHW, unpadded; padding is applied by the routines)
//   weight w_cols  [Kc, C*Kh*Kw]   (im2col order c, l, k)
//   weight w_mec   [Kh*Kw*C, Kc]   (MEC order l, k, c)
//   weight w_taps  [C, Kh, Kw, Kc] (CPO/CPS: one Kc-vector per input channel and kernel tap, kernel
//                                  columns reversed: w_taps[c, l, Kw-1-k] = weight[:, c, l, k])
//   output         [N, Kc, Oh, Ow] (NCHW, contiguous)
// Padded coordinates: ip = i + ph, jp = j + pw.  Window x covers padded columns x*sw .. x*sw+kw-1.
//
// CPO arrays (one entry per (image, channel) with a non-zero; all-zero channels are skipped):
//   image_ptr int32 [N+1]      entries of image b: image_ptr[b] .. image_ptr[b+1]
//   channels  int16 [E]        input channel of each entry
//   segment_ptr int32 [E*Ow+1] non-zeros whose first covering window is w0 lie in
//                              segment_ptr[e*Ow+w0] .. segment_ptr[e*Ow+w0+1]
//   index     uint16|uint32 [nnz]  u = ip*Kw + lc, lc = jp - w0*sw (column inside the first window)
//   value     float32 [nnz]
// Order inside a segment: column-major (lc, then ip).
//
// CPS: the same, with `index` replaced by a word stream (segment_ptr points into the words).
//   A word with the top bit clear is a raw CPO index u and consumes one value.
//   A word with the top bit set is a pattern of an aligned group of 4 padded rows 4q..4q+3 of one column
//   holding >= 3 non-zeros: bits [3, top) hold g = q*Kw + lc, bits [0, 3) the missing row r (0..3) or 4 for
//   none; it consumes 3 or 4 values, in row order.
#include <torch/extension.h>

#include <ATen/Parallel.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

namespace {

struct Geometry {
  int64_t n, c, h, w, kc, kh, kw, sh, sw, ph, pw, hp, wp, oh, ow;
};

Geometry make_geometry(const at::Tensor& x, int64_t kc, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph,
                       int64_t pw) {
  TORCH_CHECK_VALUE(x.dim() == 4 && x.scalar_type() == at::kFloat && x.is_contiguous() && x.device().is_cpu(),
                    "x: expected a contiguous float32 CPU tensor [N, C, H, W]");
  TORCH_CHECK_VALUE(kh >= 1 && kw >= 1 && sh >= 1 && sw >= 1 && ph >= 0 && pw >= 0, "bad kernel/stride/padding");
  Geometry g{x.size(0), x.size(1), x.size(2), x.size(3), kc, kh, kw, sh, sw, ph, pw, 0, 0, 0, 0};
  g.hp = g.h + 2 * ph;
  g.wp = g.w + 2 * pw;
  TORCH_CHECK_VALUE(kh <= g.hp && kw <= g.wp, "kernel: larger than the padded input");
  g.oh = (g.hp - kh) / sh + 1;
  g.ow = (g.wp - kw) / sw + 1;
  return g;
}

int thread_count() { return std::max(1, at::get_num_threads()); }

void add_bias_nchw(at::Tensor& out, const c10::optional<at::Tensor>& bias) {
  if (bias.has_value() && bias->defined()) out.add_(bias->view({1, -1, 1, 1}));
}

// First window covering padded coordinate p along one axis (kernel k, stride s, o outputs), or -1 if none.
inline int64_t first_window(int64_t p, int64_t k, int64_t s, int64_t o) {
  int64_t w0 = p < k ? 0 : (p - k + s) / s;
  return (w0 < o && w0 * s <= p) ? w0 : -1;
}

// ---------------------------------------------------------------- im2col

at::Tensor im2col_lower(const at::Tensor& x, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw) {
  Geometry g = make_geometry(x, 0, kh, kw, sh, sw, ph, pw);
  auto cols = at::empty({g.n, g.c * kh * kw, g.oh * g.ow}, x.options());
  const float* src = x.data_ptr<float>();
  float* dst = cols.data_ptr<float>();
  const int64_t rows = g.n * g.c * kh * kw;
#pragma omp parallel for num_threads(thread_count()) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t k = r % kw, l = (r / kw) % kh, ch = (r / (kw * kh)) % g.c, b = r / (kw * kh * g.c);
    const float* plane = src + (b * g.c + ch) * g.h * g.w;
    float* out = dst + r * g.oh * g.ow;
    for (int64_t y = 0; y < g.oh; ++y) {
      const int64_t i = y * sh + l - ph;
      float* line = out + y * g.ow;
      if (i < 0 || i >= g.h) {
        std::fill(line, line + g.ow, 0.f);
        continue;
      }
      const float* row = plane + i * g.w;
      for (int64_t xo = 0; xo < g.ow; ++xo) {
        const int64_t j = xo * sw + k - pw;
        line[xo] = (j >= 0 && j < g.w) ? row[j] : 0.f;
      }
    }
  }
  return cols;
}

at::Tensor im2col_conv(const at::Tensor& x, const at::Tensor& w_cols, const c10::optional<at::Tensor>& bias,
                       int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw) {
  at::Tensor cols = im2col_lower(x, kh, kw, sh, sw, ph, pw);
  Geometry g = make_geometry(x, w_cols.size(0), kh, kw, sh, sw, ph, pw);
  auto out = at::empty({g.n, g.kc, g.oh * g.ow}, x.options());
  for (int64_t b = 0; b < g.n; ++b) {
    auto ob = out.select(0, b);
    at::mm_out(ob, w_cols, cols.select(0, b));
  }
  out = out.view({g.n, g.kc, g.oh, g.ow});
  add_bias_nchw(out, bias);
  return out;
}

// ---------------------------------------------------------------- MEC

// L [N, Ow, Hp, Kw, C]: for each output column a full-height strip of Kw padded columns, NHWC inside.
at::Tensor mec_lower(const at::Tensor& x, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw) {
  Geometry g = make_geometry(x, 0, kh, kw, sh, sw, ph, pw);
  // Padded NHWC copy of the input: MEC lowers from NHWC.
  at::Tensor nhwc = at::constant_pad_nd(x, {pw, pw, ph, ph}, 0.0).permute({0, 2, 3, 1}).contiguous();
  auto lowered = at::empty({g.n, g.ow, g.hp, kw, g.c}, x.options());
  const float* src = nhwc.data_ptr<float>();
  float* dst = lowered.data_ptr<float>();
  const int64_t strip = kw * g.c, strips = g.n * g.ow * g.hp;
#pragma omp parallel for num_threads(thread_count()) schedule(static)
  for (int64_t r = 0; r < strips; ++r) {
    const int64_t i = r % g.hp, xo = (r / g.hp) % g.ow, b = r / (g.hp * g.ow);
    std::memcpy(dst + r * strip, src + ((b * g.hp + i) * g.wp + xo * sw) * g.c, strip * sizeof(float));
  }
  return lowered;
}

// solution 'A': one GEMM per output row over all images ([O_h, N*O_w, Kc], then a transpose);
// solution 'B': one GEMM per (image, output row), written in NHWC order directly.
at::Tensor mec_conv(const at::Tensor& x, const at::Tensor& w_mec, const c10::optional<at::Tensor>& bias, int64_t kh,
                    int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw, std::string solution) {
  TORCH_CHECK_VALUE(solution == "A" || solution == "B", "solution: expected 'A' or 'B'");
  at::Tensor lowered = mec_lower(x, kh, kw, sh, sw, ph, pw);
  Geometry g = make_geometry(x, w_mec.size(1), kh, kw, sh, sw, ph, pw);
  const int64_t row_len = kh * kw * g.c, row_stride = g.hp * kw * g.c;
  at::Tensor out;
  if (solution == "A") {
    auto stacked = at::empty({g.oh, g.n * g.ow, g.kc}, x.options());
    for (int64_t y = 0; y < g.oh; ++y) {
      auto view = lowered.as_strided({g.n * g.ow, row_len}, {row_stride, 1}, y * sh * kw * g.c);
      auto oy = stacked.select(0, y);
      at::mm_out(oy, view, w_mec);
    }
    out = stacked.view({g.oh, g.n, g.ow, g.kc}).permute({1, 3, 0, 2}).contiguous();
  } else {
    auto nhwc = at::empty({g.n, g.oh, g.ow, g.kc}, x.options());
    for (int64_t b = 0; b < g.n; ++b) {
      for (int64_t y = 0; y < g.oh; ++y) {
        auto view = lowered.as_strided({g.ow, row_len}, {row_stride, 1}, b * g.ow * row_stride + y * sh * kw * g.c);
        auto oy = nhwc.select(0, b).select(0, y);
        at::mm_out(oy, view, w_mec);
      }
    }
    out = nhwc.permute({0, 3, 1, 2}).contiguous();
  }
  add_bias_nchw(out, bias);
  return out;
}

// ---------------------------------------------------------------- CPO / CPS encoders

struct Coverage {
  std::vector<int64_t> col_w0, col_lc;  // per unpadded column: first window and column inside it (-1: uncovered)
  std::vector<char> row_ok;             // per unpadded row: covered by some kernel row of some output row
};

Coverage coverage(const Geometry& g) {
  Coverage cov;
  cov.col_w0.resize(g.w);
  cov.col_lc.resize(g.w);
  cov.row_ok.resize(g.h);
  for (int64_t j = 0; j < g.w; ++j) {
    const int64_t jp = j + g.pw, w0 = first_window(jp, g.kw, g.sw, g.ow);
    cov.col_w0[j] = w0;
    cov.col_lc[j] = w0 < 0 ? -1 : jp - w0 * g.sw;
  }
  for (int64_t i = 0; i < g.h; ++i) cov.row_ok[i] = first_window(i + g.ph, g.kh, g.sh, g.oh) >= 0;
  return cov;
}

template <typename Word>
constexpr uint64_t top_bit() {
  return uint64_t(1) << (8 * sizeof(Word) - 1);
}

// Calls emit(ip, value) for the non-zeros of one column of one plane, in row order; returns false on NaN/Inf.
template <typename Emit>
bool scan_column(const float* plane, const Geometry& g, const Coverage& cov, int64_t j, Emit&& emit) {
  bool finite = true;
  for (int64_t i = 0; i < g.h; ++i) {
    const float v = plane[i * g.w + j];
    if (v == 0.f || !cov.row_ok[i]) continue;
    finite &= std::isfinite(v);
    emit(i + g.ph, v);
  }
  return finite;
}

// CPS: group the (ip, value) non-zeros of one column into aligned 4-row groups and call
// pattern(q, missing, values...) for groups of >= 3 and raw(ip, value) for the others.
struct ColumnGrouper {
  int64_t q = -1, count = 0, rows[4];
  float values[4];
  template <typename Raw, typename Pattern>
  void flush(Raw&& raw, Pattern&& pattern) {
    if (count >= 3) {
      int64_t missing = 4;
      if (count == 3) missing = 6 - (rows[0] + rows[1] + rows[2] - 3 * 4 * q);
      pattern(q, missing, values, count);
    } else {
      for (int64_t k = 0; k < count; ++k) raw(rows[k], values[k]);
    }
    count = 0;
  }
  template <typename Raw, typename Pattern>
  void add(int64_t ip, float v, Raw&& raw, Pattern&& pattern) {
    if (ip / 4 != q) {
      flush(raw, pattern);
      q = ip / 4;
    }
    rows[count] = ip;
    values[count++] = v;
  }
};

template <typename Word>
std::vector<at::Tensor> encode(const at::Tensor& x, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph,
                               int64_t pw, bool cps) {
  Geometry g = make_geometry(x, 0, kh, kw, sh, sw, ph, pw);
  const Coverage cov = coverage(g);
  const float* src = x.data_ptr<float>();
  const int64_t planes = g.n * g.c;
  std::vector<int64_t> nnz(planes, 0), words(planes, 0);
  std::vector<char> finite(planes, 1);

  // Pass 1: non-zeros and words per plane (CPO: one word per non-zero).
#pragma omp parallel for num_threads(thread_count()) schedule(dynamic, 4)
  for (int64_t p = 0; p < planes; ++p) {
    const float* plane = src + p * g.h * g.w;
    int64_t values = 0, word_count = 0;
    bool ok = true;
    auto raw = [&](int64_t, float) { ++word_count, ++values; };
    auto pattern = [&](int64_t, int64_t, const float*, int64_t n) { ++word_count, values += n; };
    if (!cps) {  // branch-free count over covered rows and columns, row-major
      for (int64_t i = 0; i < g.h; ++i) {
        if (!cov.row_ok[i]) continue;
        const float* row = plane + i * g.w;
        int64_t row_count = 0;
        bool row_finite = true;
        for (int64_t j = 0; j < g.w; ++j) {
          row_count += (row[j] != 0.f) & (cov.col_w0[j] >= 0);
          row_finite &= std::isfinite(row[j]);
        }
        values += row_count;
        ok &= row_finite;
      }
      word_count = values;
    }
    for (int64_t j = 0; j < g.w && cps; ++j) {
      if (cov.col_w0[j] < 0) continue;
      ColumnGrouper grouper;
      ok &= scan_column(plane, g, cov, j, [&](int64_t ip, float v) { grouper.add(ip, v, raw, pattern); });
      grouper.flush(raw, pattern);
    }
    nnz[p] = values;
    words[p] = word_count;
    finite[p] = ok;
  }
  for (int64_t p = 0; p < planes; ++p) {
    TORCH_CHECK_VALUE(finite[p], "x: contains NaN or Inf (sparse formats need finite activations)");
  }

  // Entries: planes with a non-zero, in (image, channel) order.
  std::vector<int64_t> entry_plane, entry_word_start, entry_value_start;
  auto image_ptr = at::empty({g.n + 1}, x.options().dtype(at::kInt));
  int32_t* image_ptr_data = image_ptr.data_ptr<int32_t>();
  int64_t total_words = 0, total_values = 0;
  for (int64_t p = 0; p < planes; ++p) {
    if (p % g.c == 0) image_ptr_data[p / g.c] = static_cast<int32_t>(entry_plane.size());
    if (words[p] == 0) continue;
    entry_plane.push_back(p);
    entry_word_start.push_back(total_words);
    entry_value_start.push_back(total_values);
    total_words += words[p];
    total_values += nnz[p];
  }
  image_ptr_data[g.n] = static_cast<int32_t>(entry_plane.size());
  TORCH_CHECK_VALUE(total_values < (int64_t(1) << 31), "x: too many non-zeros for 32-bit pointers");
  const int64_t entries = static_cast<int64_t>(entry_plane.size());

  auto channels = at::empty({entries}, x.options().dtype(at::kShort));
  auto segment_ptr = at::empty({entries * g.ow + 1}, x.options().dtype(at::kInt));
  auto word_tensor = at::empty({total_words}, x.options().dtype(sizeof(Word) == 2 ? at::kShort : at::kInt));
  auto value_tensor = at::empty({total_values}, x.options());
  int16_t* channel_data = channels.data_ptr<int16_t>();
  int32_t* segment_data = segment_ptr.data_ptr<int32_t>();
  Word* word_data = reinterpret_cast<Word*>(word_tensor.data_ptr());
  float* value_data = value_tensor.data_ptr<float>();
  segment_data[entries * g.ow] = static_cast<int32_t>(total_words);

  // Pass 2: write segment pointers, words and values per entry.
#pragma omp parallel for num_threads(thread_count()) schedule(dynamic, 4)
  for (int64_t e = 0; e < entries; ++e) {
    const int64_t p = entry_plane[e];
    const float* plane = src + p * g.h * g.w;
    channel_data[e] = static_cast<int16_t>(p % g.c);
    int64_t pos = entry_word_start[e], value_pos = entry_value_start[e], next_w0 = 0, lc = 0;
    std::vector<Word> column_words(cps ? 0 : g.h + 1);
    std::vector<float> column_values(cps ? 0 : g.h + 1);
    auto raw = [&](int64_t ip, float v) {
      word_data[pos++] = static_cast<Word>(ip * kw + lc);
      value_data[value_pos++] = v;
    };
    auto pattern = [&](int64_t q, int64_t missing, const float* vals, int64_t n) {
      word_data[pos++] = static_cast<Word>(top_bit<Word>() | (uint64_t(q * kw + lc) << 3) | uint64_t(missing));
      for (int64_t k = 0; k < n; ++k) value_data[value_pos++] = vals[k];
    };
    for (int64_t j = 0; j < g.w; ++j) {
      const int64_t w0 = cov.col_w0[j];
      if (w0 < 0) continue;
      lc = cov.col_lc[j];
      while (next_w0 <= w0) segment_data[e * g.ow + next_w0++] = static_cast<int32_t>(pos);
      if (!cps) {  // branch-free compaction of one column through a small buffer
        int64_t count = 0;
        for (int64_t i = 0; i < g.h; ++i) {
          const float v = plane[i * g.w + j];
          column_words[count] = static_cast<Word>((i + g.ph) * kw + lc);
          column_values[count] = v;
          count += (v != 0.f) & cov.row_ok[i];
        }
        std::memcpy(word_data + pos, column_words.data(), count * sizeof(Word));
        std::memcpy(value_data + value_pos, column_values.data(), count * sizeof(float));
        pos += count;
        value_pos += count;
        continue;
      }
      ColumnGrouper grouper;
      scan_column(plane, g, cov, j, [&](int64_t ip, float v) { grouper.add(ip, v, raw, pattern); });
      grouper.flush(raw, pattern);
    }
    while (next_w0 < g.ow) segment_data[e * g.ow + next_w0++] = static_cast<int32_t>(pos);
  }
  return {image_ptr, channels, segment_ptr, word_tensor, value_tensor};
}

std::vector<at::Tensor> cpo_encode(const at::Tensor& x, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph,
                                   int64_t pw, int64_t index_bits) {
  TORCH_CHECK_VALUE(index_bits == 16 || index_bits == 32, "index_bits: expected 16 or 32");
  return index_bits == 16 ? encode<uint16_t>(x, kh, kw, sh, sw, ph, pw, false)
                          : encode<uint32_t>(x, kh, kw, sh, sw, ph, pw, false);
}

std::vector<at::Tensor> cps_encode(const at::Tensor& x, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph,
                                   int64_t pw, int64_t index_bits) {
  TORCH_CHECK_VALUE(index_bits == 16 || index_bits == 32, "index_bits: expected 16 or 32");
  return index_bits == 16 ? encode<uint16_t>(x, kh, kw, sh, sw, ph, pw, true)
                          : encode<uint32_t>(x, kh, kw, sh, sw, ph, pw, true);
}

// ---------------------------------------------------------------- CPO / CPS convolution (scatter SpMV)

// o[k] += sum_c v[c] * w[c][offset + k] for k < n: the output is loaded and stored once for all contributions.
inline void multi_axpy(float* __restrict o, const float* const* w, const float* v, int64_t count, int64_t offset,
                       int64_t n) {
  if (count == 1) {
    const float* __restrict w0 = w[0] + offset;
#pragma omp simd
    for (int64_t k = 0; k < n; ++k) o[k] += v[0] * w0[k];
  } else if (count == 2) {
    const float* __restrict w0 = w[0] + offset;
    const float* __restrict w1 = w[1] + offset;
#pragma omp simd
    for (int64_t k = 0; k < n; ++k) o[k] += v[0] * w0[k] + v[1] * w1[k];
  } else if (count == 3) {
    const float* __restrict w0 = w[0] + offset;
    const float* __restrict w1 = w[1] + offset;
    const float* __restrict w2 = w[2] + offset;
#pragma omp simd
    for (int64_t k = 0; k < n; ++k) o[k] += v[0] * w0[k] + v[1] * w1[k] + v[2] * w2[k];
  } else {
    for (int64_t c = 0; c + 1 < count; c += 2) multi_axpy(o, w + c, v + c, 2, offset, n);
    if (count % 2) multi_axpy(o, w + count - 1, v + count - 1, 1, offset, n);
  }
}

// The scatter SpMV of one column run: the non-zeros (rows ip ascending, values v) of input channel ch, image b,
// at column lc of first window w0. Each adds v * W[ch, l, lc - t*sw, :] to out[b, y, w0 + t, :] for every
// kernel row l with y*sh + l = ip and every overlap t; the contributions to one output row are summed in one
// pass. Kernel columns are stored reversed, so both sides advance with t: for stride 1 and the whole of Kc,
// all overlaps of a row are one contiguous run of (t_max+1)*Kc floats.
struct RunScatter {
  const Geometry& g;
  float* out;            // [N, Oh, Ow, Kc]
  const float* weights;  // [C, Kh, Kw, Kc], kernel columns reversed: tap (l, k) at (l, Kw-1-k)
  int64_t k0, k1;        // this thread's output-channel slice

  void operator()(int64_t b, int64_t ch, int64_t w0, int64_t lc, const int64_t* ips, const float* vals,
                  int64_t n) const {
    constexpr int64_t kMaxRows = 16;
    const int64_t kc = g.kc, kh = g.kh, sh = g.sh, t_max = std::min(g.sw == 1 ? lc : lc / g.sw, g.ow - 1 - w0);
    const float* taps = weights + (ch * kh * g.kw + g.kw - 1 - lc) * kc;  // + l * Kw * Kc for kernel row l
    const bool fused = g.sw == 1 && k0 == 0 && k1 == kc;
    const int64_t y_lo = ips[0] < kh ? 0 : (ips[0] - kh + sh) / sh;
    const int64_t y_hi = std::min(g.oh - 1, sh == 1 ? ips[n - 1] : ips[n - 1] / sh);
    const float* rows[kMaxRows];
    float coefficients[kMaxRows];
    int64_t first = 0;
    for (int64_t y = y_lo; y <= y_hi; ++y) {
      const int64_t top = y * sh;
      while (first < n && ips[first] < top) ++first;
      float* orow = out + ((b * g.oh + y) * g.ow + w0) * kc;
      int64_t count = 0;
      for (int64_t i = first; i < n && ips[i] < top + kh; ++i) {
        rows[count] = taps + (ips[i] - top) * g.kw * kc;
        coefficients[count++] = vals[i];
        if (count == kMaxRows || i + 1 == n || ips[i + 1] >= top + kh) {
          if (fused) {
            multi_axpy(orow, rows, coefficients, count, 0, (t_max + 1) * kc);
          } else {
            for (int64_t t = 0; t <= t_max; ++t)
              multi_axpy(orow + t * kc + k0, rows, coefficients, count, t * g.sw * kc + k0, k1 - k0);
          }
          count = 0;
        }
      }
    }
  }
};

template <typename Word, bool kCps>
at::Tensor sparse_conv(const std::vector<at::Tensor>& matrix, const at::Tensor& w_taps,
                       const c10::optional<at::Tensor>& bias, std::vector<int64_t> input_shape, int64_t sh,
                       int64_t sw, int64_t ph, int64_t pw) {
  TORCH_CHECK_VALUE(matrix.size() == 5, "matrix: expected 5 tensors");
  TORCH_CHECK_VALUE(w_taps.dim() == 4 && w_taps.is_contiguous() && w_taps.scalar_type() == at::kFloat,
                    "weight: expected contiguous float32 [C, Kh, Kw, Kc]");
  const int64_t kh = w_taps.size(1), kw = w_taps.size(2), kc = w_taps.size(3);
  Geometry g{input_shape[0], input_shape[1], input_shape[2], input_shape[3], kc, kh, kw, sh, sw, ph, pw, 0, 0, 0, 0};
  g.hp = g.h + 2 * ph;
  g.wp = g.w + 2 * pw;
  TORCH_CHECK_VALUE(kh <= g.hp && kw <= g.wp && w_taps.size(0) == g.c, "weight: does not match the input shape");
  g.oh = (g.hp - kh) / sh + 1;
  g.ow = (g.wp - kw) / sw + 1;
  const int32_t* image_ptr = matrix[0].data_ptr<int32_t>();
  const int16_t* channels = matrix[1].data_ptr<int16_t>();
  const int32_t* segment_ptr = matrix[2].data_ptr<int32_t>();
  const Word* words = reinterpret_cast<const Word*>(matrix[3].data_ptr());
  const float* values = matrix[4].data_ptr<float>();

  // u -> u / Kw for every index a word can hold (a table lookup instead of a division per non-zero)
  std::vector<int32_t> row_of(g.hp * kw + kw);
  for (int64_t u = 0; u < static_cast<int64_t>(row_of.size()); ++u) row_of[u] = static_cast<int32_t>(u / kw);
  auto out = at::empty({g.n, g.oh, g.ow, kc}, w_taps.options());
  float* out_data = out.data_ptr<float>();
  const float* bias_data = (bias.has_value() && bias->defined()) ? bias->data_ptr<float>() : nullptr;
  constexpr int64_t kBlock = 16;  // output channels per work unit
  const int64_t blocks = (kc + kBlock - 1) / kBlock;
  const int threads = static_cast<int>(std::min<int64_t>(thread_count(), blocks));
  const int64_t positions = g.n * g.oh * g.ow;

#pragma omp parallel num_threads(threads)
  {
    const int tid = omp_get_thread_num(), team = omp_get_num_threads();
    const int64_t k0 = std::min(kc, (blocks * tid / team) * kBlock);
    const int64_t k1 = std::min(kc, (blocks * (tid + 1) / team) * kBlock);
    for (int64_t p = 0; p < positions; ++p) {
      float* o = out_data + p * kc;
      for (int64_t k = k0; k < k1; ++k) o[k] = bias_data ? bias_data[k] : 0.f;
    }
    RunScatter scatter{g, out_data, w_taps.data_ptr<float>(), k0, k1};
    const int32_t* row_of_u = row_of.data();
    std::vector<int64_t> run_rows(g.hp);
    std::vector<float> run_values(g.hp);
    int64_t value_pos = 0;
    for (int64_t b = 0; b < g.n && k0 < k1; ++b) {
      for (int64_t e = image_ptr[b]; e < image_ptr[b + 1]; ++e) {
        const int64_t ch = channels[e];
        for (int64_t w0 = 0; w0 < g.ow; ++w0) {
          // Non-zeros of a segment come column by column (lc), rows ascending: gather each column's run.
          int64_t run = 0, run_lc = -1;
          auto flush = [&]() {
            if (run) scatter(b, ch, w0, run_lc, run_rows.data(), run_values.data(), run);
            run = 0;
          };
          const int64_t end = segment_ptr[e * g.ow + w0 + 1];
          for (int64_t p = segment_ptr[e * g.ow + w0]; p < end; ++p) {
            const uint64_t word = words[p];
            if (!kCps || !(word & top_bit<Word>())) {
              const int64_t ip = row_of_u[word], lc = static_cast<int64_t>(word) - ip * kw;
              if (lc != run_lc) flush(), run_lc = lc;
              run_rows[run] = ip;
              run_values[run++] = values[kCps ? value_pos++ : p];
              continue;
            }
            const int64_t group = static_cast<int64_t>((word & ~top_bit<Word>()) >> 3), missing = word & 7;
            const int64_t q = row_of_u[group], lc = group - q * kw;
            if (lc != run_lc) flush(), run_lc = lc;
            for (int64_t r = 0; r < 4; ++r) {
              if (r == missing) continue;
              run_rows[run] = 4 * q + r;
              run_values[run++] = values[value_pos++];
            }
          }
          flush();
        }
      }
    }
  }
  return out.permute({0, 3, 1, 2}).contiguous();
}

at::Tensor cpo_conv(const std::vector<at::Tensor>& matrix, const at::Tensor& w_taps,
                    const c10::optional<at::Tensor>& bias, std::vector<int64_t> input_shape, int64_t sh, int64_t sw,
                    int64_t ph, int64_t pw) {
  return matrix[3].scalar_type() == at::kShort
             ? sparse_conv<uint16_t, false>(matrix, w_taps, bias, input_shape, sh, sw, ph, pw)
             : sparse_conv<uint32_t, false>(matrix, w_taps, bias, input_shape, sh, sw, ph, pw);
}

at::Tensor cps_conv(const std::vector<at::Tensor>& matrix, const at::Tensor& w_taps,
                    const c10::optional<at::Tensor>& bias, std::vector<int64_t> input_shape, int64_t sh, int64_t sw,
                    int64_t ph, int64_t pw) {
  return matrix[3].scalar_type() == at::kShort
             ? sparse_conv<uint16_t, true>(matrix, w_taps, bias, input_shape, sh, sw, ph, pw)
             : sparse_conv<uint32_t, true>(matrix, w_taps, bias, input_shape, sh, sw, ph, pw);
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("im2col_lower", &im2col_lower);
  m.def("im2col_conv", &im2col_conv);
  m.def("mec_lower", &mec_lower);
  m.def("mec_conv", &mec_conv);
  m.def("cpo_encode", &cpo_encode);
  m.def("cps_encode", &cps_encode);
  m.def("cpo_conv", &cpo_conv);
  m.def("cps_conv", &cps_conv);
}

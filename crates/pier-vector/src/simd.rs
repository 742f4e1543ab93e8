//! Distance kernels installed into usearch in place of its built-in (NumKong) ones.
//!
//! Why: measured on this project's 2-core AMD EPYC (AVX2, no AVX-512), usearch's built-in
//! f32 kernels upcast every element to f64 and run one 4-lane FMA chain, and its f16 kernels
//! one 8-lane chain; both are bound by FMA latency, so at 384 dimensions a distance costs
//! several times what the hardware allows, and distances are most of HNSW's time. These
//! kernels keep four independent 8-lane f32 accumulators (f16 is widened with F16C), which
//! is what hnswlib and faiss do. They are chosen at run time (`is_x86_feature_detected!`);
//! without AVX2+FMA(+F16C) the built-in kernels stay in place.
//!
//! Distances follow usearch's conventions, which the rest of the crate relies on:
//! squared L2; `1 - dot` for inner product; `1 - cosine` for cosine (a zero vector is
//! orthogonal to everything).

use crate::{Metric, Storage};

/// A distance between two stored vectors of `dim` elements of the storage type.
pub(crate) type RawKernel = unsafe fn(*const u8, *const u8, usize) -> f32;

/// The kernel for a metric and storage on this CPU, and its name for reports.
pub(crate) fn select(metric: Metric, storage: Storage) -> Option<(RawKernel, &'static str)> {
    #[cfg(target_arch = "x86_64")]
    {
        let avx2 = std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma");
        let f16c = std::arch::is_x86_feature_detected!("f16c");
        let k: RawKernel = match (storage, metric) {
            (Storage::F32, Metric::L2) if avx2 => x86::l2sq_f32,
            (Storage::F32, Metric::InnerProduct) if avx2 => x86::ip_f32,
            (Storage::F32, Metric::Cosine) if avx2 => x86::cos_f32,
            (Storage::F16, Metric::L2) if avx2 && f16c => x86::l2sq_f16,
            (Storage::F16, Metric::InnerProduct) if avx2 && f16c => x86::ip_f16,
            (Storage::F16, Metric::Cosine) if avx2 && f16c => x86::cos_f16,
            _ => return None,
        };
        Some((k, "pier avx2+fma"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (metric, storage);
        None
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    #[inline(always)]
    unsafe fn hsum(v: __m256) -> f32 {
        // SAFETY: only called from functions compiled with AVX enabled.
        unsafe {
            let x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
            let x = _mm_add_ps(x, _mm_movehl_ps(x, x));
            let x = _mm_add_ss(x, _mm_shuffle_ps(x, x, 1));
            _mm_cvtss_f32(x)
        }
    }

    /// Loads 8 f32 values.
    #[inline(always)]
    unsafe fn ld_f32(p: *const u8, i: usize) -> __m256 {
        // SAFETY: the caller guarantees `i + 8 <= dim` elements are readable.
        unsafe { _mm256_loadu_ps((p as *const f32).add(i)) }
    }

    /// Loads 8 f16 values widened to f32.
    #[inline(always)]
    unsafe fn ld_f16(p: *const u8, i: usize) -> __m256 {
        // SAFETY: as `ld_f32`; F16C is enabled in the calling functions.
        unsafe { _mm256_cvtph_ps(_mm_loadu_si128((p as *const u16).add(i) as *const __m128i)) }
    }

    /// IEEE binary16 -> f32 for the (at most 7) tail elements.
    fn f16_to_f32(h: u16) -> f32 {
        let sign = u32::from(h >> 15) << 31;
        let exp = u32::from((h >> 10) & 0x1f);
        let man = u32::from(h & 0x3ff);
        let bits = match (exp, man) {
            (0, 0) => sign,
            (0, _) => {
                // Subnormal: normalise.
                let shift = man.leading_zeros() - 21;
                sign | ((113 - shift) << 23) | ((man << shift) & 0x3ff) << 13
            }
            (31, _) => sign | 0x7f80_0000 | (man << 13),
            _ => sign | ((exp + 112) << 23) | (man << 13),
        };
        f32::from_bits(bits)
    }

    #[inline(always)]
    unsafe fn tail_f32(p: *const u8, i: usize) -> f32 {
        // SAFETY: `i < dim`.
        unsafe { *(p as *const f32).add(i) }
    }

    #[inline(always)]
    unsafe fn tail_f16(p: *const u8, i: usize) -> f32 {
        // SAFETY: `i < dim`.
        f16_to_f32(unsafe { *(p as *const u16).add(i) })
    }

    macro_rules! kernels {
        ($l2:ident, $ip:ident, $cos:ident, $ld:ident, $tail:ident, $feat:literal) => {
            /// Squared L2 distance.
            ///
            /// # Safety
            /// `a` and `b` point to `n` readable elements; the CPU has the enabled features.
            #[target_feature(enable = $feat)]
            pub(super) unsafe fn $l2(a: *const u8, b: *const u8, n: usize) -> f32 {
                unsafe {
                    let (mut s0, mut s1, mut s2, mut s3) = (
                        _mm256_setzero_ps(),
                        _mm256_setzero_ps(),
                        _mm256_setzero_ps(),
                        _mm256_setzero_ps(),
                    );
                    let mut i = 0;
                    while i + 32 <= n {
                        let d0 = _mm256_sub_ps($ld(a, i), $ld(b, i));
                        let d1 = _mm256_sub_ps($ld(a, i + 8), $ld(b, i + 8));
                        let d2 = _mm256_sub_ps($ld(a, i + 16), $ld(b, i + 16));
                        let d3 = _mm256_sub_ps($ld(a, i + 24), $ld(b, i + 24));
                        s0 = _mm256_fmadd_ps(d0, d0, s0);
                        s1 = _mm256_fmadd_ps(d1, d1, s1);
                        s2 = _mm256_fmadd_ps(d2, d2, s2);
                        s3 = _mm256_fmadd_ps(d3, d3, s3);
                        i += 32;
                    }
                    while i + 8 <= n {
                        let d = _mm256_sub_ps($ld(a, i), $ld(b, i));
                        s0 = _mm256_fmadd_ps(d, d, s0);
                        i += 8;
                    }
                    let mut s = hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
                    while i < n {
                        let d = $tail(a, i) - $tail(b, i);
                        s += d * d;
                        i += 1;
                    }
                    s
                }
            }

            /// `1 - a.b`.
            ///
            /// # Safety
            /// As for the L2 kernel.
            #[target_feature(enable = $feat)]
            pub(super) unsafe fn $ip(a: *const u8, b: *const u8, n: usize) -> f32 {
                unsafe {
                    let (mut s0, mut s1, mut s2, mut s3) = (
                        _mm256_setzero_ps(),
                        _mm256_setzero_ps(),
                        _mm256_setzero_ps(),
                        _mm256_setzero_ps(),
                    );
                    let mut i = 0;
                    while i + 32 <= n {
                        s0 = _mm256_fmadd_ps($ld(a, i), $ld(b, i), s0);
                        s1 = _mm256_fmadd_ps($ld(a, i + 8), $ld(b, i + 8), s1);
                        s2 = _mm256_fmadd_ps($ld(a, i + 16), $ld(b, i + 16), s2);
                        s3 = _mm256_fmadd_ps($ld(a, i + 24), $ld(b, i + 24), s3);
                        i += 32;
                    }
                    while i + 8 <= n {
                        s0 = _mm256_fmadd_ps($ld(a, i), $ld(b, i), s0);
                        i += 8;
                    }
                    let mut s = hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
                    while i < n {
                        s += $tail(a, i) * $tail(b, i);
                        i += 1;
                    }
                    1.0 - s
                }
            }

            /// `1 - cos(a, b)`; 1 if either vector is zero.
            ///
            /// # Safety
            /// As for the L2 kernel.
            #[target_feature(enable = $feat)]
            pub(super) unsafe fn $cos(a: *const u8, b: *const u8, n: usize) -> f32 {
                unsafe {
                    let (mut ab0, mut aa0, mut bb0) = (
                        _mm256_setzero_ps(),
                        _mm256_setzero_ps(),
                        _mm256_setzero_ps(),
                    );
                    let (mut ab1, mut aa1, mut bb1) = (
                        _mm256_setzero_ps(),
                        _mm256_setzero_ps(),
                        _mm256_setzero_ps(),
                    );
                    let mut i = 0;
                    while i + 16 <= n {
                        let (x0, y0) = ($ld(a, i), $ld(b, i));
                        let (x1, y1) = ($ld(a, i + 8), $ld(b, i + 8));
                        ab0 = _mm256_fmadd_ps(x0, y0, ab0);
                        aa0 = _mm256_fmadd_ps(x0, x0, aa0);
                        bb0 = _mm256_fmadd_ps(y0, y0, bb0);
                        ab1 = _mm256_fmadd_ps(x1, y1, ab1);
                        aa1 = _mm256_fmadd_ps(x1, x1, aa1);
                        bb1 = _mm256_fmadd_ps(y1, y1, bb1);
                        i += 16;
                    }
                    while i + 8 <= n {
                        let (x0, y0) = ($ld(a, i), $ld(b, i));
                        ab0 = _mm256_fmadd_ps(x0, y0, ab0);
                        aa0 = _mm256_fmadd_ps(x0, x0, aa0);
                        bb0 = _mm256_fmadd_ps(y0, y0, bb0);
                        i += 8;
                    }
                    let mut ab = hsum(_mm256_add_ps(ab0, ab1));
                    let mut aa = hsum(_mm256_add_ps(aa0, aa1));
                    let mut bb = hsum(_mm256_add_ps(bb0, bb1));
                    while i < n {
                        let (x, y) = ($tail(a, i), $tail(b, i));
                        ab += x * y;
                        aa += x * x;
                        bb += y * y;
                        i += 1;
                    }
                    if aa == 0.0 || bb == 0.0 {
                        1.0
                    } else {
                        1.0 - ab / (aa * bb).sqrt()
                    }
                }
            }
        };
    }

    kernels!(l2sq_f32, ip_f32, cos_f32, ld_f32, tail_f32, "avx2,fma");
    kernels!(l2sq_f16, ip_f16, cos_f16, ld_f16, tail_f16, "avx2,fma,f16c");

    #[cfg(test)]
    mod tests {
        #[test]
        fn f16_conversion() {
            for (h, f) in [
                (0x3c00u16, 1.0f32),
                (0xc000, -2.0),
                (0x3555, 0.333_251_95),
                (0x0001, 5.960_464_5e-8),
                (0x0003, 1.788_139_3e-7),
                (0x0000, 0.0),
                (0x7bff, 65504.0),
            ] {
                assert_eq!(super::f16_to_f32(h), f, "{h:#x}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distance;

    fn to_f16_bits(x: f32) -> u16 {
        // Round-to-nearest via the hardware when available is overkill for tests: values here
        // are multiples of 1/64 within f16 range, which convert exactly by truncation.
        let b = x.to_bits();
        let sign = ((b >> 16) & 0x8000) as u16;
        if x == 0.0 {
            return sign;
        }
        let exp = ((b >> 23) & 0xff) as i32 - 127 + 15;
        let man = ((b >> 13) & 0x3ff) as u16;
        sign | ((exp as u16) << 10) | man
    }

    #[test]
    fn kernels_match_exact_scores() {
        for n in [1usize, 7, 8, 31, 33, 384] {
            let a: Vec<f32> = (0..n).map(|i| ((i * 7 % 13) as f32 - 6.0) / 64.0).collect();
            let b: Vec<f32> = (0..n).map(|i| ((i * 5 % 11) as f32 - 5.0) / 32.0).collect();
            let ah: Vec<u16> = a.iter().map(|x| to_f16_bits(*x)).collect();
            let bh: Vec<u16> = b.iter().map(|x| to_f16_bits(*x)).collect();
            for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
                let want = distance::PreparedQuery::new(metric, &a).score(&b);
                let want = match metric {
                    Metric::L2 => want,
                    _ => 1.0 - want,
                };
                for (storage, pa, pb) in [
                    (
                        Storage::F32,
                        a.as_ptr() as *const u8,
                        b.as_ptr() as *const u8,
                    ),
                    (
                        Storage::F16,
                        ah.as_ptr() as *const u8,
                        bh.as_ptr() as *const u8,
                    ),
                ] {
                    let Some((k, _)) = select(metric, storage) else {
                        continue;
                    };
                    // SAFETY: both buffers hold `n` elements of the storage type.
                    let got = unsafe { k(pa, pb, n) };
                    assert!(
                        (got - want).abs() < 1e-4,
                        "{metric:?} {storage:?} n={n}: {got} vs {want}"
                    );
                }
            }
        }
    }
}

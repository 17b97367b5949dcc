//! `offline` images: a deterministic PNG of the configured size, and the PNG checks the
//! `openai` image backend shares.
//!
//! The picture is a smooth four-corner gradient whose colours come from
//! `derive_rng(seed, "backends.offline.image/<prompt hash>")`: the same seed and prompt give the
//! same bytes, another prompt or seed another picture. RGB 8-bit, fast compression. This module
//! owns the pixels and the encoding, not where the file is written.

use plugin_api::hash::stable_hash64;
use plugin_api::seed::{below, derive_rng};

use super::{BackendError, ImageBackend, ImageCall, ImageReply};

/// The eight bytes every PNG file starts with.
pub(crate) const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

/// The largest width or height the offline backend draws.
const MAX_SIDE: u32 = 8192;

/// Whether `bytes` starts with the PNG signature.
pub(crate) fn is_png(bytes: &[u8]) -> bool {
    bytes.starts_with(&PNG_SIGNATURE)
}

/// Parses `WxH` (e.g. `1536x1024`); `key` names the setting in the error.
pub(crate) fn parse_size(size: &str, key: &str) -> Result<(u32, u32), BackendError> {
    let invalid = |why: String| BackendError::Config {
        key: key.to_string(),
        message: format!("{why}\n\nwrite it as `<width>x<height>`, e.g. `1536x1024`"),
    };
    let (w, h) = size
        .trim()
        .split_once(['x', 'X'])
        .ok_or_else(|| invalid(format!("`{size}` is not a `<width>x<height>` size")))?;
    let side = |s: &str| -> Result<u32, BackendError> {
        match s.trim().parse::<u32>() {
            Ok(n) if (1..=MAX_SIDE).contains(&n) => Ok(n),
            Ok(n) => Err(invalid(format!(
                "`{size}`: side {n} is outside 1..={MAX_SIDE}"
            ))),
            Err(_) => Err(invalid(format!(
                "`{size}`: `{s}` is not a whole number of pixels"
            ))),
        }
    };
    Ok((side(w)?, side(h)?))
}

/// The offline image backend.
#[derive(Debug)]
pub(crate) struct OfflineImage {
    model: String,
    width: u32,
    height: u32,
}

impl OfflineImage {
    pub(crate) fn new(model: &str, width: u32, height: u32) -> Self {
        OfflineImage {
            model: model.to_string(),
            width,
            height,
        }
    }
}

impl ImageBackend for OfflineImage {
    fn generate(&self, call: &ImageCall<'_>) -> Result<ImageReply, BackendError> {
        let purpose = format!(
            "backends.offline.image/{:016x}",
            stable_hash64(call.prompt.as_bytes())
        );
        let mut rng = derive_rng(call.seed, &purpose);
        let mut corners = [[0u8; 3]; 4];
        for corner in &mut corners {
            for channel in corner.iter_mut() {
                // Below 256, so the cast is exact.
                *channel = below(&mut rng, 256) as u8;
            }
        }
        let png = gradient_png(self.width, self.height, corners)?;
        Ok(ImageReply {
            png,
            provider: super::offline::PROVIDER,
            model: self.model.clone(),
            usage: None,
            cache: None,
        })
    }

    fn provider(&self) -> &'static str {
        super::offline::PROVIDER
    }

    fn model(&self) -> &str {
        &self.model
    }
}

/// A bilinear gradient between `corners` (top-left, top-right, bottom-left, bottom-right).
fn gradient_png(width: u32, height: u32, corners: [[u8; 3]; 4]) -> Result<Vec<u8>, BackendError> {
    let [tl, tr, bl, br] = corners.map(|c| c.map(f32::from));
    let (w, h) = (width as usize, height as usize);
    let fx = |x: usize| {
        if w > 1 {
            x as f32 / (w - 1) as f32
        } else {
            0.0
        }
    };
    let fy = |y: usize| {
        if h > 1 {
            y as f32 / (h - 1) as f32
        } else {
            0.0
        }
    };
    let mut pixels = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        let v = fy(y);
        let left: [f32; 3] = std::array::from_fn(|c| tl[c] + (bl[c] - tl[c]) * v);
        let right: [f32; 3] = std::array::from_fn(|c| tr[c] + (br[c] - tr[c]) * v);
        for x in 0..w {
            let u = fx(x);
            for c in 0..3 {
                // Between two bytes, so the rounded value fits.
                pixels.push((left[c] + (right[c] - left[c]) * u).round() as u8);
            }
        }
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Fast);
        let mut writer = encoder.write_header().map_err(BackendError::Png)?;
        writer
            .write_image_data(&pixels)
            .map_err(BackendError::Png)?;
        writer.finish().map_err(BackendError::Png)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
        let decoder = png::Decoder::new(bytes);
        let mut reader = decoder.read_info().expect("png header");
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).expect("png frame");
        assert_eq!(info.color_type, png::ColorType::Rgb);
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    fn image(prompt: &str, seed: u64) -> Vec<u8> {
        OfflineImage::new("img-test", 64, 48)
            .generate(&ImageCall {
                generation_id: "g1",
                prompt,
                seed,
            })
            .expect("offline image")
            .png
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("1536x1024", "k").unwrap(), (1536, 1024));
        assert_eq!(parse_size(" 64X48 ", "k").unwrap(), (64, 48));
        for bad in ["", "auto", "1536", "0x10", "10x", "axb", "10x99999", "-1x5"] {
            let err = parse_size(bad, "backend.image.size").unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains("`backend.image.size`"), "{bad}: {msg}");
            assert!(matches!(err, BackendError::Config { .. }), "{bad}");
        }
    }

    #[test]
    fn offline_png_has_the_configured_size() {
        let bytes = image("a lighthouse", 1);
        assert!(is_png(&bytes));
        let (w, h, pixels) = decode(&bytes);
        assert_eq!((w, h), (64, 48));
        assert_eq!(pixels.len(), 64 * 48 * 3);
    }

    #[test]
    fn offline_png_is_deterministic_and_input_dependent() {
        assert_eq!(image("a lighthouse", 1), image("a lighthouse", 1));
        assert_ne!(image("a lighthouse", 1), image("a lighthouse", 2));
        assert_ne!(image("a lighthouse", 1), image("a harbour", 1));
    }

    #[test]
    fn one_pixel_image() {
        let bytes = OfflineImage::new("m", 1, 1)
            .generate(&ImageCall {
                generation_id: "g1",
                prompt: "x",
                seed: 0,
            })
            .expect("offline image")
            .png;
        assert_eq!(decode(&bytes).0, 1);
    }
}

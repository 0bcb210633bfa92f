// Per-batch image transforms for training on image datasets: the usual CIFAR augmentation
// (random crop of a zero-padded image, random horizontal flip) and per-channel normalization.
//
// Shapes: images [B, C, H, W] Float32.

import Foundation
import SaneTensor

public enum ImageTransforms {
    /// The standard CIFAR training augmentation (He et al. 2016, §4.2): each image is zero-padded
    /// by `padding` pixels on every side, a random H×W window is cut out of it (offsets uniform in
    /// 0…2·padding), and the result is mirrored left–right with probability ½. Per image, three
    /// draws from `g` in this order: vertical offset, horizontal offset, flip.
    /// images [B, C, H, W] → [B, C, H, W].
    public static func randomCropFlip(_ images: Tensor, padding: Int, using g: inout SeededGenerator) -> Tensor {
        precondition(images.rank == 4 && padding >= 0, "randomCropFlip needs images [B, C, H, W] and padding ≥ 0")
        let (b, c, h, w) = (images.shape[0], images.shape[1], images.shape[2], images.shape[3])
        let draws = (0..<b).map { _ in (dy: g.int(below: 2 * padding + 1) - padding, dx: g.int(below: 2 * padding + 1) - padding,
                                        flip: g.int(below: 2) == 1) }
        let src = images.readPointer
        return Tensor(shape: images.shape) { dst in
            for n in 0..<b {
                let (dy, dx, flip) = draws[n]
                for plane in 0..<c {
                    let s = src + (n * c + plane) * h * w, d = dst + (n * c + plane) * h * w
                    for y in 0..<h {
                        let sy = y + dy
                        for x in 0..<w {
                            // Output column x shows window column x (or w−1−x when flipped).
                            let sx = (flip ? w - 1 - x : x) + dx
                            d[y * w + x] = sy >= 0 && sy < h && sx >= 0 && sx < w ? s[sy * w + sx] : 0
                        }
                    }
                }
            }
        }
    }

    /// (x − mean[c]) / std[c] per channel. images [B, C, H, W] → [B, C, H, W]; mean, std [C].
    public static func normalize(_ images: Tensor, mean: [Float], std: [Float]) -> Tensor {
        let (b, c) = (images.shape[0], images.shape[1])
        precondition(mean.count == c && std.count == c, "normalize needs \(c) means and standard deviations")
        let plane = images.shape[2] * images.shape[3], src = images.readPointer
        return Tensor(shape: images.shape) { dst in
            for n in 0..<b { for ch in 0..<c {
                let o = (n * c + ch) * plane, m = mean[ch], inv = 1 / std[ch]
                for i in 0..<plane { dst[o + i] = (src[o + i] - m) * inv }
            } }
        }
    }
}

import Foundation
import XCTest
@testable import SaneData
@testable import SaneTensor

final class ImageTransformsTests: XCTestCase {
    /// One 1-channel 3×3 image 1…9; crop offsets and flips checked against the definition:
    /// out[y][x] = padded[y + dy][(flip ? w−1−x : x) + dx] with zeros outside.
    func testRandomCropFlipMatchesDefinition() {
        let image = Tensor(shape: [1, 1, 3, 3], scalars: (1...9).map(Float.init))
        var seen = Set<[Float]>()
        var g = SeededGenerator(seed: 5)
        for _ in 0..<200 {
            var replay = g
            let out = ImageTransforms.randomCropFlip(image, padding: 1, using: &g).scalars
            let dy = replay.int(below: 3) - 1, dx = replay.int(below: 3) - 1, flip = replay.int(below: 2) == 1
            var expected: [Float] = []
            for y in 0..<3 { for x in 0..<3 {
                let sy = y + dy, sx = (flip ? 2 - x : x) + dx
                expected.append(sy >= 0 && sy < 3 && sx >= 0 && sx < 3 ? Float(sy * 3 + sx + 1) : 0)
            } }
            XCTAssertEqual(out, expected)
            seen.insert(out)
        }
        XCTAssertEqual(seen.count, 18, "3 × 3 offsets × 2 flips")
        XCTAssertTrue(seen.contains([3, 2, 1, 6, 5, 4, 9, 8, 7]), "pure mirror")
        XCTAssertTrue(seen.contains([0, 0, 0, 0, 1, 2, 0, 4, 5]), "shifted down-right")
    }

    func testNormalizePerChannel() {
        let x = Tensor(shape: [2, 2, 1, 2], scalars: [1, 2, 3, 4, 5, 6, 7, 8])
        let y = ImageTransforms.normalize(x, mean: [1, 3], std: [2, 0.5])
        XCTAssertEqual(y.scalars, [0, 0.5, 0, 2, 2, 2.5, 8, 10])
    }
}

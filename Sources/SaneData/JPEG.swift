// JPEG decoding with libjpeg-turbo (system library, target CJPEG).

import CJPEG
import Foundation
import SaneTensor

public enum JPEG {
    /// Decodes the JPEG in `data` to 8-bit RGB, pixels interleaved row by row (HWC), into `out`
    /// (room for `capacity` bytes). Library defaults (ISLOW IDCT, fancy upsampling), as Pillow
    /// decodes. A corrupt file, a warning while decoding, or an image larger than `capacity` is an
    /// error naming `source`. Returns the image's width and height.
    public static func decodeRGB(_ data: UnsafeRawBufferPointer, into out: UnsafeMutablePointer<UInt8>, capacity: Int,
                                 source: String) throws -> (width: Int, height: Int) {
        guard let base = data.bindMemory(to: UInt8.self).baseAddress, data.count > 0 else {
            throw SaneError("empty JPEG \(source)", hint: "the file is corrupt")
        }
        var width: Int32 = 0, height: Int32 = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = sane_jpeg_decode_rgb(base, UInt(data.count), out, capacity, &width, &height, &message, message.count)
        guard status == 0 else {
            let text = message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw SaneError("cannot decode JPEG \(source): \(text)", hint: "the file is corrupt")
        }
        return (Int(width), Int(height))
    }
}

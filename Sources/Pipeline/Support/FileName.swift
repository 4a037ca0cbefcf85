import Foundation

/// A file name as the file system holds it (any bytes but `/` and NUL) carried in a Swift `String`, which
/// holds only valid Unicode. Valid UTF-8 stays as it is; each byte that is not part of valid UTF-8 becomes
/// the private-use character U+10FF00 + byte (as Python's `surrogateescape` does with lone surrogates,
/// which a `String` cannot hold). A name that really holds one of those 256 characters has their bytes
/// escaped the same way, so every name round-trips exactly. Paths cross to the system only through
/// `system(_:)`: a path of the tree handed straight to a system call would name another file.
public enum FileName {
    static let base: UInt32 = 0x10FF00

    /// The name (or path) for these bytes.
    public static func decode<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        if !bytes.contains(0xF4), let text = String(validating: bytes, as: UTF8.self) { return text }
        var result = String.UnicodeScalarView()
        let array = Array(bytes)
        var index = 0
        while index < array.count {
            let lead = array[index]
            let length = lead < 0x80 ? 1 : lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc2 ? 2 : 0
            if length > 0, index + length <= array.count,
               let text = String(validating: array[index..<index + length], as: UTF8.self),
               let scalar = text.unicodeScalars.first, scalar.value < base {
                result.append(scalar)
                index += length
            } else {
                result.append(Unicode.Scalar(base + UInt32(lead))!)
                index += 1
            }
        }
        return String(result)
    }

    /// The name for a C string's bytes (a name libarchive or libgit2 hands over).
    public static func decode(cString: UnsafePointer<CChar>) -> String {
        decode(UnsafeRawBufferPointer(start: cString, count: strlen(cString)))
    }

    /// Whether `text` holds bytes that are not UTF-8 (it must cross to the system through `system`).
    public static func hasRawBytes(_ text: String) -> Bool {
        text.utf8.contains(0xF4) && text.unicodeScalars.contains { $0.value >= base }
    }

    /// The bytes the file system holds for `text`.
    public static func bytes(_ text: String) -> [UInt8] {
        guard hasRawBytes(text) else { return Array(text.utf8) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            if scalar.value >= base {
                bytes.append(UInt8(scalar.value - base))
            } else {
                bytes.append(contentsOf: String(scalar).utf8)
            }
        }
        return bytes
    }

    /// The NUL-terminated path for a system call (`lstat(FileName.system(path), &info)`).
    public static func system(_ text: String) -> [CChar] {
        bytes(text).map { CChar(bitPattern: $0) } + [0]
    }
}

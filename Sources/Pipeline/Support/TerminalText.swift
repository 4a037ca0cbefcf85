/// Names printed to a terminal as `ls -b` prints them: a name (from a source, or from a backup point that may
/// be hostile) can hold escape sequences that would drive the terminal, or a newline that would forge a line.
public enum TerminalText {
    /// `text` with backslashes doubled, `\n`, `\t`, `\r` as such, and every other control character
    /// (C0, DEL, C1) as `\ooo` octal bytes, like `ls -b`.
    public static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case "\r": result += "\\r"
            case _ where needsEscape(scalar):
                // A byte of a name that is not UTF-8 (see `FileName`) is shown as that byte.
                let bytes = scalar.value >= FileName.base ? [UInt8(scalar.value - FileName.base)] : Array(String(scalar).utf8)
                for byte in bytes {
                    let octal = String(byte, radix: 8)
                    result += "\\" + String(repeating: "0", count: 3 - octal.count) + octal
                }
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// A name as the file system holds it (any bytes): valid UTF-8 as `escaped`, every other byte as `\ooo`.
    public static func escaped(bytes: [UInt8]) -> String { escaped(FileName.decode(bytes)) }

    private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || scalar.value == 0x7f || (0x80...0x9f).contains(scalar.value) || scalar == "\\"
            || scalar.value >= FileName.base
    }
}

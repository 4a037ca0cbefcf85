import CLinux
import Foundation

/// Extended attributes (ACLs and capabilities among them) read from and written to files, never following a
/// link. Reading asks the file system for every name the process may read; a file system without them has none.
public enum ExtendedAttributes {
    /// The attributes of `name` in the directory open at `directory` (reached through /proc, which resolves
    /// inside that very directory and does not follow a final link), sorted by name.
    public static func read(_ name: String, in directory: Int32) -> [Tree.ExtendedAttribute] {
        read(path: "/proc/self/fd/\(directory)/" + name)
    }

    /// The attributes of what is at `path` (a final link is not followed), sorted by name.
    public static func read(path: String) -> [Tree.ExtendedAttribute] {
        let system = FileName.system(path)
        var size = llistxattr(system, nil, 0)
        guard size > 0 else { return [] }
        var list = [CChar](repeating: 0, count: size)
        size = llistxattr(system, &list, list.count)
        guard size > 0 else { return [] }
        var attributes: [Tree.ExtendedAttribute] = []
        for raw in list[0..<size].split(separator: 0) {
            let name = String(decoding: raw.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let cName = Array(raw) + [0]
            let length = lgetxattr(system, cName, nil, 0)
            guard length >= 0 else { continue }
            var value = [UInt8](repeating: 0, count: length)
            let got = lgetxattr(system, cName, &value, value.count)
            guard got >= 0 else { continue }
            attributes.append(Tree.ExtendedAttribute(name: name, value: Array(value[0..<got])))
        }
        return attributes.sorted { $0.name < $1.name }
    }

    /// Gives `path` exactly `attributes` (removing the others); returns one line for each that could not be
    /// set (the file system does not take it, or the process may not).
    @discardableResult
    public static func set(_ attributes: [Tree.ExtendedAttribute], path: String) -> [String] {
        let system = FileName.system(path)
        let current = read(path: path)
        guard current != attributes else { return [] }
        var failures: [String] = []
        for old in current where !attributes.contains(where: { $0.name == old.name }) { lremovexattr(system, old.name) }
        for attribute in attributes where !current.contains(attribute) {
            let result = attribute.value.withUnsafeBytes { lsetxattr(system, attribute.name, $0.baseAddress, $0.count, 0) }
            if result != 0 { failures.append("\(attribute.name): \(FileIO.lastError)") }
        }
        return failures
    }

    /// The same on an open file (a new file, before it takes its final name).
    @discardableResult
    public static func set(_ attributes: [Tree.ExtendedAttribute], descriptor: Int32) -> [String] {
        var failures: [String] = []
        for attribute in attributes {
            let result = attribute.value.withUnsafeBytes { fsetxattr(descriptor, attribute.name, $0.baseAddress, $0.count, 0) }
            if result != 0 { failures.append("\(attribute.name): \(FileIO.lastError)") }
        }
        return failures
    }
}

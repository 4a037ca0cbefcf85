import Foundation

/// What one run's store remembers: the trees it decoded or encoded (a tree of 20,000 entries is read by
/// several stages and by the garbage collector; decoding it once is enough), and how many objects it added
/// (a run that added none left nothing new to collect).
final class StoreMemory: @unchecked Sendable {
    private let lock = NSLock()
    private var trees: [Digest: Tree] = [:]
    private var added = 0
    /// Trees kept at once: each may hold tens of thousands of entries.
    private let capacity = 16

    func tree(_ digest: Digest) -> Tree? {
        lock.lock()
        defer { lock.unlock() }
        return trees[digest]
    }

    func remember(_ tree: Tree, as digest: Digest) {
        lock.lock()
        defer { lock.unlock() }
        if trees.count >= capacity { trees.removeAll() }
        trees[digest] = tree
    }

    func forget(_ digest: Digest) {
        lock.lock()
        trees[digest] = nil
        lock.unlock()
    }

    func noteAdded() {
        lock.lock()
        added += 1
        lock.unlock()
    }

    var addedObjects: Int {
        lock.lock()
        defer { lock.unlock() }
        return added
    }
}

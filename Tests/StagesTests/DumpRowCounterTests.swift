import Foundation
import Testing
@testable import Stages

/// The row counters that read dumps as they stream by, fed in chunks of every size.
@Suite struct DumpRowCounterTests {
    // As mariadb-dump writes them: backslash escapes, a tuple per line or many on one.
    static let mysql = #"""
        -- MariaDB dump
        /*!40000 ALTER TABLE `posts` DISABLE KEYS */;
        INSERT INTO `posts` VALUES (1,'it\'s (1)'),(2,'a \\\' b'),(3,'x),(y');
        INSERT INTO `posts` VALUES (4,NULL);
        INSERT INTO `empty_one` VALUES ();
        INSERT INTO `lines` VALUES
        (1,'it\'s (1)'),
        (2,'two;\nthree');
        /*!40000 ALTER TABLE `posts` ENABLE KEYS */;

        """#

    static let postgres = #"""
        COPY public.items (id, name) FROM stdin;
        1	one
        2	two\nlines
        \.
        COPY public.empty (x) FROM stdin;
        \.

        """#

    @Test(arguments: [1, 3, 7, 4096])
    func mysqlTuplesAreRowsWhateverTheChunks(chunk: Int) {
        var counter = InsertRowCounter()
        feed(Self.mysql, chunk) { counter.consume($0) }
        #expect(counter.counts == ["posts": 4, "empty_one": 1, "lines": 2])
    }

    @Test(arguments: [1, 3, 7, 4096])
    func postgresCopyLinesAreRowsWhateverTheChunks(chunk: Int) {
        var counter = CopyRowCounter()
        feed(Self.postgres, chunk) { counter.consume($0) }
        #expect(counter.counts == ["public.items": 2, "public.empty": 0])
    }

    func feed(_ text: String, _ size: Int, _ consume: (UnsafeRawBufferPointer) -> Void) {
        let bytes = Array(text.utf8)
        var start = 0
        while start < bytes.count {
            let end = min(start + size, bytes.count)
            bytes[start..<end].withUnsafeBytes { consume($0) }
            start = end
        }
    }
}

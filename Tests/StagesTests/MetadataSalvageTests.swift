import Foundation
import Testing
@testable import Stages

/// What `repair` reads of a damaged metadata document: each entry's own fields, never a neighbour's.
@Suite struct MetadataSalvageTests {
    @Test func eachLocationTakesOnlyItsOwnEntrysFields() {
        // As written (keys sorted): the second entry's date is damaged, the third is cut short after its location.
        let text = """
            {"backups" : [
              {"created" : "2026-12-01T02:00:00Z", "digest" : "\(String(repeating: "a", count: 64))", "host" : "web1",
               "location" : "file:\\/\\/\\/b\\/one.tar.gz", "size" : 10, "variables" : {"H" : "02"}},
              {"created" : "20X6-12-02", "host" : "web1", "location" : "file:///b/two.tar.gz", "size" : 20},
              {"created" : "2026-12-03T02:00:00Z", "host" : "web2", "location" : "file:///b/three.tar.gz
            """
        let found = ArchiveBackupPoint.salvage(text)
        #expect(found.map(\.location) == ["file:///b/one.tar.gz", "file:///b/two.tar.gz"])
        #expect(found.first?.created == ISO8601DateFormatter().date(from: "2026-12-01T02:00:00Z"))
        #expect(found.first?.size == 10 && found.first?.host == "web1" && found.first?.digest != nil)
        #expect(found.last?.created == nil, "a damaged date is not borrowed from the entry before")
        #expect(found.last?.size == 20 && found.last?.digest == nil)
    }
}

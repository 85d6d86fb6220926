import Redis
import Testing

@Suite struct RedisConfigurationTests {
    @Test func parsesFullAndMinimalURLs() throws {
        let full = try RedisConfiguration(url: "redis://user:s3cr3t@cache.internal:6380/2")
        #expect(full.host == "cache.internal")
        #expect(full.port == 6380)
        #expect(full.database == 2)
        #expect(full.username == "user")
        #expect(full.password == "s3cr3t")

        let passwordOnly = try RedisConfiguration(url: "redis://:pw@127.0.0.1")
        #expect(passwordOnly.username == nil)
        #expect(passwordOnly.password == "pw")
        #expect(passwordOnly.port == 6379)
        #expect(passwordOnly.database == 0)

        let bare = try RedisConfiguration(url: "redis://localhost/")
        #expect(bare.host == "localhost")
        #expect(bare.password == nil)
    }

    @Test(arguments: ["http://localhost", "redis://", "redis://host:0", "redis://host:99999", "redis://host:abc", "redis://host/db", "redis://host/-1"])
    func rejectsMalformedURLs(_ url: String) {
        let error = #expect(throws: RedisError.self) { try RedisConfiguration(url: url) }
        #expect(error?.code == .invalidConfiguration)
    }
}

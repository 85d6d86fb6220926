import Testing
@testable import Alerting

@Suite struct TemplateTests {
    @Test func placeholder() throws {
        let template = try Template("{{ $labels.route }} {{ $value }}", name: "x")
        #expect(try template.execute(TemplateData(labels: ["route": "/claims"], value: 0.5)) == "/claims 0.5")
    }
}

public import Alerting
import JSONText
public import TimeSeries

/// The JSON bodies alerts travel in.
public enum AlertPayloads {
    /// Alertmanager's `POST /api/v2/alerts` body: a list of postable alerts.
    public static func alertmanager(_ alerts: [AlertNotification], externalLabels: Labels, externalURL: String) -> [UInt8] {
        var writer = JSONWriter(capacity: 512 * max(alerts.count, 1))
        writer.open("[")
        for alert in alerts {
            writer.open("{")
            writer.key("labels")
            labels(with(externalLabels, alert.labels), into: &writer)
            writer.key("annotations")
            pairs(alert.annotations, into: &writer)
            writer.member("startsAt", AlertTime.rfc3339(alert.startsAt))
            writer.member("endsAt", AlertTime.rfc3339(alert.endsAt))
            writer.member("generatorURL", generatorURL(externalURL: externalURL, expression: alert.expression))
            writer.close("}")
        }
        writer.close("]")
        return writer.bytes
    }

    /// Alertmanager's webhook body (version 4) for the alerts of one rule group.
    public static func webhook(
        _ alerts: [AlertNotification], group: String, externalLabels: Labels, externalURL: String, receiver: String = "claimsd"
    ) -> [UInt8] {
        let labelled = alerts.map { (alert: $0, labels: with(externalLabels, $0.labels)) }
        let firing = alerts.contains { !$0.isResolved }
        let groupLabels = Labels(["alertgroup": group])
        var common = labelled.first?.labels.dictionary ?? [:]
        var commonAnnotations = alerts.first?.annotations ?? [:]
        for (alert, labels) in labelled.dropFirst() {
            let set = labels.dictionary
            common = common.filter { set[$0.key] == $0.value }
            commonAnnotations = commonAnnotations.filter { alert.annotations[$0.key] == $0.value }
        }
        var writer = JSONWriter(capacity: 1024 + 512 * alerts.count)
        writer.open("{")
        writer.member("receiver", receiver)
        writer.member("status", firing ? "firing" : "resolved")
        writer.key("alerts")
        writer.open("[")
        for (alert, labels) in labelled {
            writer.open("{")
            writer.member("status", alert.isResolved ? "resolved" : "firing")
            writer.key("labels")
            self.labels(labels, into: &writer)
            writer.key("annotations")
            pairs(alert.annotations, into: &writer)
            writer.member("startsAt", AlertTime.rfc3339(alert.startsAt))
            writer.member("endsAt", alert.isResolved ? AlertTime.rfc3339(alert.endsAt) : AlertTime.zero)
            writer.member("generatorURL", generatorURL(externalURL: externalURL, expression: alert.expression))
            writer.member("fingerprint", fingerprint(labels))
            writer.close("}")
        }
        writer.close("]")
        writer.key("groupLabels")
        self.labels(groupLabels, into: &writer)
        writer.key("commonLabels")
        pairs(common, into: &writer)
        writer.key("commonAnnotations")
        pairs(commonAnnotations, into: &writer)
        writer.member("externalURL", externalURL)
        writer.member("version", "4")
        writer.member("groupKey", "{}:{alertgroup=\"\(escapeLabelValue(group))\"}")
        writer.member("truncatedAlerts", 0)
        writer.close("}")
        return writer.bytes
    }

    /// Alertmanager's fingerprint of a label set: FNV-1a 64 over names and values, each
    /// followed by 0xff, in name order, as 16 hex digits.
    public static func fingerprint(_ labels: Labels) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func add(_ byte: UInt8) {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        for label in labels {
            for byte in label.name.utf8 { add(byte) }
            add(0xff)
            for byte in label.value.utf8 { add(byte) }
            add(0xff)
        }
        let digits = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// Link back to the query that produced an alert, on claimsd's query API:
    /// `<externalURL>/api/v1/query?query=…` (claimsd serves no graph page).
    public static func generatorURL(externalURL: String, expression: String) -> String {
        externalURL + "/api/v1/query?query=" + TemplateFunctions.queryEscape(expression)
    }

    /// `labels` with the external labels added where the alert has no label of that name.
    static func with(_ external: Labels, _ labels: Labels) -> Labels {
        var result = labels
        for label in external where labels[label.name] == nil { result = result.setting(label.name, to: label.value) }
        return result
    }

    private static func labels(_ labels: Labels, into writer: inout JSONWriter) {
        writer.open("{")
        for label in labels { writer.member(label.name, label.value) }
        writer.close("}")
    }

    private static func pairs(_ pairs: [String: String], into writer: inout JSONWriter) {
        writer.open("{")
        for key in pairs.keys.sorted() { writer.member(key, pairs[key] ?? "") }
        writer.close("}")
    }
}

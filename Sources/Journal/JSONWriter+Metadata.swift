import JSONText
import Logging

extension JSONWriter {
    /// Appends a metadata value: numbers and booleans stay JSON numbers and booleans, nested
    /// arrays and dictionaries become JSON arrays and objects.
    mutating func value(_ value: Logger.MetadataValue) {
        switch value {
        case .string(let text):
            string(text)
        case .stringConvertible(let convertible):
            // The concrete types the service logs first: a cast to them is cheaper than one to
            // an existential.
            switch convertible {
            case let number as Int: raw(String(number))
            case let number as Double where number.isFinite: raw(number.description)
            case let number as any BinaryInteger: raw("\(number)")
            case let flag as Bool: raw(flag ? "true" : "false")
            default: string(convertible.description)
            }
        case .array(let elements):
            raw("[")
            for (index, element) in elements.enumerated() {
                if index > 0 { raw(",") }
                self.value(element)
            }
            raw("]")
        case .dictionary(let dictionary):
            raw("{")
            for (index, key) in dictionary.keys.sorted().enumerated() {
                if index > 0 { raw(",") }
                string(key)
                raw(":")
                // Force-unwrap-free lookup: the key came from this dictionary.
                if let element = dictionary[key] { self.value(element) }
            }
            raw("}")
        }
    }
}

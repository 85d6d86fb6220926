import Flooding

/// `generate-error-logs`: see `GenerateErrorLogsCommand` in the Flooding module.
@main
enum GenerateErrorLogs {
    static func main() async {
        await GenerateErrorLogsCommand.main()
    }
}

import Flooding

/// `flood-loki`: see `FloodLokiCommand` in the Flooding module.
@main
enum FloodLoki {
    static func main() async {
        await FloodLokiCommand.main()
    }
}

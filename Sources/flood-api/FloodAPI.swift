import Flooding

/// `flood-api`: see `FloodAPICommand` in the Flooding module.
@main
enum FloodAPI {
    static func main() async {
        await FloodAPICommand.main()
    }
}

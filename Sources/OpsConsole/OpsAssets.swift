/// The console's static resources.
public enum OpsAssets {
    /// The page's stylesheet (`text/css`).
    public static var stylesheet: [UInt8] { PackageResources.ops_css }
}

import Access
@testable import App
import Foundation
import Hummingbird
import TestSupport
import TimeSeries

/// claimsd's router with every route it can serve (the time-series, query and alerting routes
/// included), and the requirement each route declared.
struct EveryRoute {
    let router: Router<ClaimsRequestContext>
    let declarations: RouteDeclarations
    /// The time-series store behind the query routes; close it when done.
    let store: TimeSeriesStore

    /// Builds it over `dependencies`, keeping the time series in `directory`.
    init(dependencies: AppDependencies, access: AccessSettings, directory: String) async throws {
        let (store, _) = try TimeSeriesStore.open(path: directory)
        let timeSeries = TimeSeriesSettings(store: store, adminAPI: true)
        var configuration = ServiceConfiguration()
        configuration.ruleFiles = []
        let alerting = AlertingRuntime(configuration: configuration, timeSeries: timeSeries, factory: dependencies.telemetry.factory, logger: TestEnvironment.quietLogger)
        try await alerting.reload()
        let declarations = RouteDeclarations()
        self.router = buildRouter(
            dependencies: dependencies, access: access, traffic: TrafficSettings(rateLimits: []), timeSeries: timeSeries, alerting: alerting,
            declarations: declarations)
        self.declarations = declarations
        self.store = store
    }
}

import Glibc
import Synchronization

/// An exclusive `flock` on a file, held until released or the process ends (a killed process
/// leaves no stale lock behind).
final class FileLock: Sendable {
    private let descriptor: Mutex<Int32?>

    /// Takes the lock on `path` (created when missing); throws when another process holds it.
    init(path: String) throws(TimeSeriesStoreError) {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .io(path: path, problem: "cannot open lock file: \(String(cString: strerror(errno)))") }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw .locked(path: path)
        }
        self.descriptor = Mutex(descriptor)
    }

    /// Releases the lock; later calls do nothing.
    func release() {
        descriptor.withLock { descriptor in
            guard let held = descriptor else { return }
            flock(held, LOCK_UN)
            close(held)
            descriptor = nil
        }
    }

    deinit { release() }
}

//! A real local registry: Debian's `docker-registry` served on 127.0.0.1 with
//! its storage in a temp folder, stopped when dropped. Every engine talks
//! plain HTTP to a loopback registry.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Registry {
    /// `127.0.0.1:<port>`.
    pub host: String,
    child: Option<Child>,
    dir: PathBuf,
}

impl Registry {
    pub fn start() -> Registry {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let host = format!("127.0.0.1:{port}");
        let dir =
            std::env::temp_dir().join(format!("xtask-registry-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("config.yml"),
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {host}\n  secret: xtask-tests\n",
                dir.join("data").display()
            ),
        )
        .unwrap();
        let mut registry = Registry { host, child: None, dir };
        registry.restart();
        registry
    }

    /// Stops it (by the pid of the process this test started); what it
    /// holds stays, for [`Registry::restart`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Serves again what it held, on the same address.
    pub fn restart(&mut self) {
        let program = ["/usr/bin/docker-registry", "/usr/sbin/docker-registry"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or_else(|| panic!("these tests need a registry: `sudo apt-get install docker-registry` (.ci/run does it)"));
        let child = Command::new(program)
            .arg("serve")
            .arg(self.dir.join("config.yml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let started = Instant::now();
        while TcpStream::connect(&self.host).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the registry did not start on {}",
                self.host
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The tags the registry holds for `repository` (its path, without the
    /// host), sorted: read from its storage, as the registry keeps them.
    pub fn tags(&self, repository: &str) -> Vec<String> {
        let path = self
            .dir
            .join("data/docker/registry/v2/repositories")
            .join(repository)
            .join("_manifests/tags");
        let mut tags: Vec<String> = std::fs::read_dir(path)
            .map(|entries| {
                entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()
            })
            .unwrap_or_default();
        tags.sort();
        tags
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

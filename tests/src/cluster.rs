//! A PostgreSQL 15 cluster of a test's own (initdb with the machine's binaries, which find the
//! installed extension), on a free loopback port, for what must not touch the machine's
//! cluster that every other test shares: an immediate restart, other settings.

use std::path::PathBuf;
use std::process::Command;

const BIN: &str = "/usr/lib/postgresql/15/bin";

/// A PostgreSQL cluster of the test's own, run as the postgres user; removed when dropped.
pub struct Cluster {
    dir: PathBuf,
    port: u16,
}

fn as_postgres(args: &[&str]) -> std::process::Output {
    Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .args(args)
        .output()
        .expect("runuser runs")
}

impl Cluster {
    /// Makes and starts a cluster on a free loopback port, its directory named after `what`,
    /// with `settings` (lines of postgresql.conf) added.
    pub fn start(what: &str, settings: &str) -> Cluster {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir =
            std::env::temp_dir().join(format!("pg_slo_{what}_{}", uuid::Uuid::new_v4().simple()));
        let status = Command::new("install")
            .args(["-d", "-o", "postgres", "-g", "postgres"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(status.success());
        let data = dir.join("data");
        let out = as_postgres(&[
            &format!("{BIN}/initdb"),
            "-D",
            data.to_str().unwrap(),
            "-A",
            "trust",
            "-U",
            "postgres",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let conf = format!(
            "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n{settings}\n",
            dir.display()
        );
        let mut existing = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
        existing.push_str(&conf);
        std::fs::write(data.join("postgresql.conf"), existing).unwrap();
        let cluster = Cluster { dir, port };
        cluster.pg_ctl(&["start"]);
        cluster
    }

    /// Runs pg_ctl on the cluster (`start`, `restart -m immediate`, ...).
    pub fn pg_ctl(&self, args: &[&str]) {
        let data = self.dir.join("data");
        let log = self.dir.join("server.log");
        let mut all = vec![
            format!("{BIN}/pg_ctl"),
            "-D".into(),
            data.display().to_string(),
            "-l".into(),
            log.display().to_string(),
            "-w".into(),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let out = as_postgres(&all);
        assert!(
            out.status.success(),
            "pg_ctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Its admin connection string.
    pub fn url(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            self.port
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = as_postgres(&[
            &format!("{BIN}/pg_ctl"),
            "-D",
            data.to_str().unwrap(),
            "-m",
            "immediate",
            "stop",
        ]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

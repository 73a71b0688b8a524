//! Where the ruler's output goes: alerts to Alertmanager, recorded samples
//! to remote-write receivers. Traits, so the evaluation loop is tested with
//! recording sinks and runs with the real clients.

use crate::notifier::{Notifier, NotifyAlert};
use crate::remote_write::{RecordedSample, RemoteWriter};

pub trait AlertSender: Send + Sync {
    /// Queues alerts for every Alertmanager; never blocks.
    fn send(&self, tenant: &str, alerts: Vec<NotifyAlert>);
}

pub trait SampleSink: Send + Sync {
    /// Queues samples for every remote-write client; never blocks.
    fn append(&self, tenant: &str, samples: Vec<RecordedSample>);
}

impl AlertSender for Notifier {
    fn send(&self, tenant: &str, alerts: Vec<NotifyAlert>) {
        Notifier::send(self, tenant, alerts)
    }
}

impl SampleSink for RemoteWriter {
    fn append(&self, tenant: &str, samples: Vec<RecordedSample>) {
        RemoteWriter::append(self, tenant, samples)
    }
}

//! An in-memory cluster for the ruler's tests: partitions with a settable
//! leader, records that only the current leader can write (as a deposed Raft
//! leader cannot commit), scripted query results, and sinks that record
//! what would have gone to Alertmanager and remote-write receivers.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;

use crate::manager::Clock;
use crate::notifier::NotifyAlert;
use crate::remote_write::RecordedSample;
use crate::sinks::{AlertSender, SampleSink};
use crate::store::{BackendError, QuerySample, RulerBackend};

type Script = Box<dyn Fn(&str, &str, i64) -> Result<Vec<QuerySample>, BackendError> + Send + Sync>;

/// State every node of a [`MemCluster`] shares.
pub struct MemCluster {
    partitions: u32,
    /// Per partition: the leader and the term it was elected in.
    leaders: Mutex<BTreeMap<u32, (u64, u64)>>,
    records: Mutex<BTreeMap<(u32, String, String), Vec<u8>>>,
    script: Mutex<Script>,
    /// Nodes that believe they lead a partition they do not (a deposed
    /// leader that has not heard of the election yet): `leads` and
    /// `confirm_leadership` say yes, but their writes cannot commit.
    deluded: Mutex<BTreeMap<u32, u64>>,
    /// Every record write that committed, as (node, partition, space, key).
    pub writes: Mutex<Vec<(u64, u32, String, String)>>,
}

impl MemCluster {
    pub fn new(partitions: u32) -> Arc<MemCluster> {
        Arc::new(MemCluster {
            partitions,
            leaders: Mutex::new(BTreeMap::new()),
            records: Mutex::new(BTreeMap::new()),
            script: Mutex::new(Box::new(|_, _, _| Ok(Vec::new()))),
            deluded: Mutex::new(BTreeMap::new()),
            writes: Mutex::new(Vec::new()),
        })
    }

    /// Makes `node` the leader of every partition.
    pub fn lead_all(&self, node: u64) {
        for p in 0..self.partitions {
            self.set_leader(p, node);
        }
    }

    /// Makes `node` the leader of `partition`.
    pub fn set_leader(&self, partition: u32, node: u64) {
        let mut l = self.leaders.lock().unwrap();
        let term = l.get(&partition).map_or(1, |(_, t)| t + 1);
        l.insert(partition, (node, term));
    }

    /// Makes `node` believe it still leads `partition` (see `deluded`).
    pub fn delude(&self, partition: u32, node: u64) {
        self.deluded.lock().unwrap().insert(partition, node);
    }

    /// What every instant query returns: `f(tenant, expr, ts_ms)`.
    pub fn script(
        &self,
        f: impl Fn(&str, &str, i64) -> Result<Vec<QuerySample>, BackendError> + Send + Sync + 'static,
    ) {
        *self.script.lock().unwrap() = Box::new(f);
    }

    /// The backend as node `node` sees it.
    pub fn node(self: &Arc<Self>, node: u64) -> Arc<MemNode> {
        Arc::new(MemNode { cluster: Arc::clone(self), node })
    }

    pub fn write_count(&self) -> usize {
        self.writes.lock().unwrap().len()
    }
}

pub struct MemNode {
    cluster: Arc<MemCluster>,
    node: u64,
}

impl MemNode {
    fn is_leader(&self, p: u32) -> bool {
        self.cluster.leaders.lock().unwrap().get(&p).is_some_and(|(n, _)| *n == self.node)
    }

    /// The term this node believes it leads `p` in.
    fn believed_term(&self, p: u32) -> Option<u64> {
        let (leader, term) = *self.cluster.leaders.lock().unwrap().get(&p)?;
        if leader == self.node {
            return Some(term);
        }
        // A deluded node still sees the term it led in.
        (self.cluster.deluded.lock().unwrap().get(&p) == Some(&self.node)).then(|| term - 1)
    }
}

impl RulerBackend for MemNode {
    fn instant_query(
        &self,
        tenant: &str,
        expr: &str,
        ts_ms: i64,
    ) -> BoxFuture<'_, Result<Vec<QuerySample>, BackendError>> {
        let r = (self.cluster.script.lock().unwrap())(tenant, expr, ts_ms);
        Box::pin(async move { r })
    }

    fn partitions(&self) -> u32 {
        self.cluster.partitions
    }

    fn leads(&self, partition: u32) -> Option<u64> {
        self.believed_term(partition)
    }

    fn confirm_leadership(&self, partition: u32) -> BoxFuture<'_, Result<bool, BackendError>> {
        let r = self.believed_term(partition).is_some();
        Box::pin(async move { Ok(r) })
    }

    fn records(
        &self,
        partition: u32,
        space: &'static str,
        prefix: String,
    ) -> BoxFuture<'_, Result<Vec<(String, Vec<u8>)>, BackendError>> {
        let out = self
            .cluster
            .records
            .lock()
            .unwrap()
            .iter()
            .filter(|((p, s, k), _)| *p == partition && s == space && k.starts_with(&prefix))
            .map(|((_, _, k), v)| (k.clone(), v.clone()))
            .collect();
        Box::pin(async move { Ok(out) })
    }

    fn write_record(
        &self,
        partition: u32,
        space: &'static str,
        key: String,
        value: Option<Vec<u8>>,
    ) -> BoxFuture<'_, Result<(), BackendError>> {
        // Partition 0 holds API groups: any node may write there (a proposal is forwarded).
        let r = if partition != 0 && !self.is_leader(partition) {
            Err(BackendError::Unavailable(format!("node {} does not lead partition {partition}", self.node)))
        } else {
            let mut records = self.cluster.records.lock().unwrap();
            let k = (partition, space.to_string(), key.clone());
            match value {
                Some(v) => records.insert(k, v),
                None => records.remove(&k),
            };
            self.cluster.writes.lock().unwrap().push((self.node, partition, space.to_string(), key));
            Ok(())
        };
        Box::pin(async move { r })
    }

    fn delete_records(
        &self,
        partition: u32,
        space: &'static str,
        prefix: String,
    ) -> BoxFuture<'_, Result<(), BackendError>> {
        self.cluster
            .records
            .lock()
            .unwrap()
            .retain(|(p, s, k), _| !(*p == partition && s == space && k.starts_with(&prefix)));
        Box::pin(async { Ok(()) })
    }
}

/// Records every batch of alerts "sent", with the sending node.
#[derive(Default)]
pub struct SentAlerts {
    pub sent: Mutex<Vec<(u64, String, Vec<NotifyAlert>)>>,
}

pub struct NodeSender {
    pub node: u64,
    pub log: Arc<SentAlerts>,
}

impl AlertSender for NodeSender {
    fn send(&self, tenant: &str, alerts: Vec<NotifyAlert>) {
        self.log.sent.lock().unwrap().push((self.node, tenant.to_string(), alerts));
    }
}

/// Records every sample "remote-written".
#[derive(Default)]
pub struct RecordedSamples {
    pub samples: Mutex<Vec<(String, RecordedSample)>>,
}

impl SampleSink for RecordedSamples {
    fn append(&self, tenant: &str, samples: Vec<RecordedSample>) {
        self.samples.lock().unwrap().extend(samples.into_iter().map(|s| (tenant.to_string(), s)));
    }
}

/// A clock the test sets.
#[derive(Default)]
pub struct FakeClock(pub Mutex<i64>);

impl FakeClock {
    pub fn set(&self, ms: i64) {
        *self.0.lock().unwrap() = ms;
    }
}

impl Clock for FakeClock {
    fn now_ms(&self) -> i64 {
        *self.0.lock().unwrap()
    }
}

/// A metrics recorder for tests: `name{label="value",...}` → value
/// (histograms: number of observations).
#[derive(Default)]
pub struct TestRecorder(pub Arc<Mutex<BTreeMap<String, f64>>>);

struct Handle(String, Arc<Mutex<BTreeMap<String, f64>>>);

impl Handle {
    fn update(&self, f: impl FnOnce(&mut f64)) {
        f(self.1.lock().unwrap().entry(self.0.clone()).or_default());
    }
}
impl metrics::CounterFn for Handle {
    fn increment(&self, v: u64) {
        self.update(|x| *x += v as f64);
    }
    fn absolute(&self, v: u64) {
        self.update(|x| *x = x.max(v as f64));
    }
}
impl metrics::GaugeFn for Handle {
    fn increment(&self, v: f64) {
        self.update(|x| *x += v);
    }
    fn decrement(&self, v: f64) {
        self.update(|x| *x -= v);
    }
    fn set(&self, v: f64) {
        self.update(|x| *x = v);
    }
}
impl metrics::HistogramFn for Handle {
    fn record(&self, _: f64) {
        self.update(|x| *x += 1.0);
    }
}

impl TestRecorder {
    fn handle(&self, key: &metrics::Key) -> Arc<Handle> {
        let mut labels: Vec<String> = key.labels().map(|l| format!("{}={:?}", l.key(), l.value())).collect();
        labels.sort();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        self.0.lock().unwrap().entry(name.clone()).or_default();
        Arc::new(Handle(name, self.0.clone()))
    }
}

impl metrics::Recorder for TestRecorder {
    fn describe_counter(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
    fn describe_gauge(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
    fn describe_histogram(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        metrics::Counter::from_arc(self.handle(key))
    }
    fn register_gauge(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::from_arc(self.handle(key))
    }
    fn register_histogram(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Histogram {
        metrics::Histogram::from_arc(self.handle(key))
    }
}

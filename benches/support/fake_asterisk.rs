//! A minimal Asterisk 22 manager endpoint for the AMI latency run, in the bytes a real one writes
//! (tests/fixtures/asterisk-22/abandon-and-timeout/ami.raw): the project's fake peer
//! (`queuecast::simulate::ami_peer`: banner, MD5 `Challenge`, `Login` checked, `Ping`) with `QueueStatus`
//! answering one queue. Once the status list has gone out, callers join and
//! abandon queue `support` at a steady rate, each event written on its own like Asterisk's manager thread.
//! [`paced_callers`] paces the queue_log run the same way.

use parsers::ami::Message;
use queuecast::simulate::ami::BANNER;
use queuecast::simulate::ami_peer::{self, Answers, ChallengeText, Credentials, Peer, Reply};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// The AMI user of the bench's daemon config.
pub const USERNAME: &str = "bench";
pub const SECRET: &str = "bench";
/// A challenge Asterisk 22 sent (ami-actions/ami-md5.raw).
const CHALLENGE: &str = "66136831";

/// When each `uniqueid/outcome` was written, for the subscriber side to match.
pub type Sent = Arc<Mutex<HashMap<String, Instant>>>;

/// Serves one connection on `listener`; after the `QueueStatus` answer, writes `total` events at `rate_per_s`.
pub fn serve(listener: TcpListener, total: u64, rate_per_s: u64, sent: Sent) {
    let (socket, _) = listener.accept().expect("accept the daemon's AMI connection");
    socket.set_nodelay(true).expect("nodelay");
    let writer = Arc::new(Mutex::new(socket.try_clone().expect("clone socket")));
    write(&writer, BANNER.as_bytes());
    let (status_sent, status_rx) = mpsc::channel();
    let answers = Arc::clone(&writer);
    std::thread::spawn(move || answer_actions(socket, &answers, &status_sent));
    status_rx.recv().expect("the daemon asks for QueueStatus");
    paced_callers(total, rate_per_s, &sent, |caller| {
        let event = if caller.joins {
            caller_event("QueueCallerJoin", caller.uniqueid, caller.n, "Position: 1\r\nCount: 1\r\n")
        } else {
            let tail = "Position: 1\r\nOriginalPosition: 1\r\nHoldTime: 0\r\n";
            caller_event("QueueCallerAbandon", caller.uniqueid, caller.n, tail)
        };
        write(&writer, event.as_bytes());
    });
}

/// Input number `n` of a paced run: caller `n / 2` joins queue `support` (`n` even), then abandons.
pub struct Caller<'a> {
    pub n: u64,
    /// Now, as Unix seconds: the time field of queue_log lines and the first half of uniqueids.
    pub epoch: i64,
    pub uniqueid: &'a str,
    pub joins: bool,
}

/// Calls `write` for `total` inputs at `rate_per_s`, each stamped in `sent` (as `uniqueid/outcome`, the
/// `call_update` it must cause) right before it is written — the clock both sources' latencies start from.
pub fn paced_callers(total: u64, rate_per_s: u64, sent: &Sent, mut write: impl FnMut(Caller<'_>)) {
    let start = Instant::now();
    let epoch = jiff::Timestamp::now().as_second();
    for n in 0..total {
        let due = start + Duration::from_micros(n * 1_000_000 / rate_per_s);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let uniqueid = format!("{epoch}.{}", n / 2);
        let joins = n % 2 == 0;
        let outcome = if joins { "waiting" } else { "abandoned" };
        sent.lock().expect("sent").insert(format!("{uniqueid}/{outcome}"), Instant::now());
        write(Caller { n, epoch, uniqueid: &uniqueid, joins });
    }
}

/// Reads actions and answers them through the project's fake peer; reports when `QueueStatus` has been
/// answered.
fn answer_actions(mut socket: TcpStream, writer: &Mutex<TcpStream>, status_sent: &mpsc::Sender<()>) {
    let credentials = Credentials { username: USERNAME.to_owned(), secret: SECRET.to_owned() };
    let mut peer = Peer::new(credentials, ChallengeText::Fixed(CHALLENGE.to_owned()));
    let mut chunk = [0u8; 4096];
    while let Ok(n @ 1..) = socket.read(&mut chunk) {
        peer.push(&chunk[..n]);
        while let Ok(Some(reply)) = peer.next_reply(&mut OneQueue) {
            match reply {
                Reply::Send(bytes) => write(writer, &bytes),
                Reply::Status(bytes) => {
                    write(writer, &bytes);
                    let _ = status_sent.send(());
                }
                Reply::Close(bytes) => return write(writer, &bytes),
            }
        }
    }
}

/// An Asterisk with one empty queue, `support`, and a clock stopped at 0.
struct OneQueue;

impl Answers for OneQueue {
    fn ping(&mut self, id: Option<&str>) -> Reply {
        Reply::Send(ami_peer::pong(id, "0.000000"))
    }

    fn action(&mut self, action: &Message<'_>, name: &str, _events_on: bool) -> Reply {
        let id = action.action_id();
        if !name.eq_ignore_ascii_case("QueueStatus") {
            return ami_peer::unknown_action(name, id.as_deref());
        }
        let id = id.unwrap_or_default();
        Reply::Status(
            format!(
                "Response: Success\r\nActionID: {id}\r\nEventList: start\r\nMessage: Queue status will follow\r\n\r\n\
                 Event: QueueParams\r\nQueue: support\r\nMax: 0\r\nStrategy: ringall\r\nCalls: 0\r\nHoldtime: 0\r\n\
                 TalkTime: 0\r\nCompleted: 0\r\nAbandoned: 0\r\nServiceLevel: 0\r\nServicelevelPerf: 0.0\r\n\
                 ServicelevelPerf2: 0.0\r\nWeight: 0\r\nActionID: {id}\r\n\r\n\
                 Event: QueueStatusComplete\r\nActionID: {id}\r\nEventList: Complete\r\nListItems: 1\r\n\r\n"
            )
            .into_bytes(),
        )
    }
}

/// A queue caller event of Asterisk 22's layout (channel snapshot, then the queue fields).
fn caller_event(name: &str, uniqueid: &str, n: u64, queue_fields: &str) -> String {
    let caller = 5_550_000 + n / 2;
    format!(
        "Event: {name}\r\nPrivilege: agent,all\r\nChannel: PJSIP/trunk-{n:08x}\r\nChannelState: 6\r\n\
         ChannelStateDesc: Up\r\nCallerIDNum: {caller}\r\nCallerIDName: Caller {caller}\r\n\
         ConnectedLineNum: <unknown>\r\nConnectedLineName: <unknown>\r\nLanguage: en\r\nAccountCode: \r\n\
         Context: in-support\r\nExten: {caller}\r\nPriority: 3\r\nUniqueid: {uniqueid}\r\n\
         Linkedid: {uniqueid}\r\nQueue: support\r\n{queue_fields}\r\n"
    )
}

fn write(writer: &Mutex<TcpStream>, bytes: &[u8]) {
    // The daemon going away ends the run; the measuring side notices the missing messages.
    let _ = writer.lock().expect("AMI writer").write_all(bytes);
}

//! A minimal Asterisk 22 manager endpoint for the AMI latency run, in the bytes a real one writes
//! (tests/fixtures/asterisk-22/abandon-and-timeout/ami.raw): banner, MD5 `Challenge`, `Login` accepted,
//! `QueueStatus` with one queue, `Ping` answered. Once the status list has gone out, callers join and
//! abandon queue `support` at a steady rate, each event written on its own like Asterisk's manager thread.
//! [`paced_callers`] paces the queue_log run the same way.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// When each `uniqueid/outcome` was written, for the subscriber side to match.
pub type Sent = Arc<Mutex<HashMap<String, Instant>>>;

/// Serves one connection on `listener`; after the `QueueStatus` answer, writes `total` events at `rate_per_s`.
pub fn serve(listener: TcpListener, total: u64, rate_per_s: u64, sent: Sent) {
    let (socket, _) = listener.accept().expect("accept the daemon's AMI connection");
    socket.set_nodelay(true).expect("nodelay");
    let writer = Arc::new(Mutex::new(socket.try_clone().expect("clone socket")));
    write(&writer, b"Asterisk Call Manager/11.0.0\r\n");
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

/// Reads actions and answers them; reports when `QueueStatus` has been answered.
fn answer_actions(socket: TcpStream, writer: &Mutex<TcpStream>, status_sent: &mpsc::Sender<()>) {
    let mut reader = BufReader::new(socket);
    let mut fields: HashMap<String, String> = HashMap::new();
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
        let text = line.trim_end();
        if text.is_empty() {
            let action = fields.remove("action").unwrap_or_default();
            let id = fields.remove("actionid").unwrap_or_default();
            write(writer, answer(&action, &id).as_bytes());
            if action.eq_ignore_ascii_case("QueueStatus") {
                let _ = status_sent.send(());
            }
            fields.clear();
        } else if let Some((name, value)) = text.split_once(':') {
            fields.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
        line.clear();
    }
}

fn answer(action: &str, id: &str) -> String {
    match action.to_ascii_lowercase().as_str() {
        "challenge" => format!("Response: Success\r\nActionID: {id}\r\nChallenge: 66136831\r\n\r\n"),
        "login" => format!(
            "Response: Success\r\nActionID: {id}\r\nMessage: Authentication accepted\r\n\r\n\
             Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 0\r\nLastReload: 0\r\nStatus: Fully Booted\r\n\r\n"
        ),
        "queuestatus" => format!(
            "Response: Success\r\nActionID: {id}\r\nEventList: start\r\nMessage: Queue status will follow\r\n\r\n\
             Event: QueueParams\r\nQueue: support\r\nMax: 0\r\nStrategy: ringall\r\nCalls: 0\r\nHoldtime: 0\r\n\
             TalkTime: 0\r\nCompleted: 0\r\nAbandoned: 0\r\nServiceLevel: 0\r\nServicelevelPerf: 0.0\r\n\
             ServicelevelPerf2: 0.0\r\nWeight: 0\r\nActionID: {id}\r\n\r\n\
             Event: QueueStatusComplete\r\nActionID: {id}\r\nEventList: Complete\r\nListItems: 1\r\n\r\n"
        ),
        "ping" => format!("Response: Success\r\nActionID: {id}\r\nPing: Pong\r\nTimestamp: 0.000000\r\n\r\n"),
        _ => format!("Response: Success\r\nActionID: {id}\r\n\r\n"),
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

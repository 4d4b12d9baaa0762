//! Event name + data part → `QlEvent`, one function per layout family. Version variants are told apart by
//! field count (QUEUE_LOG.md §2); free-text fields absorb surplus `|`.

use super::error::{ErrorKind, snippet};
use super::fields::{Data, LineText};
use super::grammar::{number, split_pipe};
use super::record::{Completed, Left, QlEvent, ToExten};
use crate::text::Text;

type Result<T> = std::result::Result<T, ErrorKind>;

/// Types the data of event `name`; unknown names become `QlEvent::Unknown` (kept, never rejected).
pub(crate) fn parse_event<'a>(line: LineText<'a>, name: &'a [u8], data: &'a [u8]) -> Result<QlEvent<'a>> {
    let data = Data::new(name, data, line);
    Ok(match name {
        b"ENTERQUEUE" => enter_queue(&data)?,
        b"ABANDON" => QlEvent::Abandon(left(&data)?),
        b"EXITEMPTY" => QlEvent::ExitEmpty(left(&data)?),
        b"EXITWITHTIMEOUT" => QlEvent::ExitWithTimeout(exit_with_timeout(&data)?),
        b"EXITWITHKEY" => exit_with_key(&data)?,
        b"WITHDRAW" => withdraw(&data)?,
        b"CONNECT" => connect(&data)?,
        b"COMPLETECALLER" => QlEvent::CompleteCaller(complete(&data)?),
        b"COMPLETEAGENT" => QlEvent::CompleteAgent(complete(&data)?),
        b"BLINDTRANSFER" => QlEvent::BlindTransfer(to_exten(&data, &[5], "5")?),
        b"ATTENDEDTRANSFER" => attended_transfer(&data)?,
        b"TRANSFER" => QlEvent::Transfer(to_exten(&data, &[2, 4, 5], "2, 4 or 5")?),
        b"AGENTDUMP" => QlEvent::AgentDump,
        b"SYSCOMPAT" => QlEvent::SysCompat,
        b"RINGNOANSWER" => QlEvent::RingNoAnswer { ring_ms: ring_ms(&data)? },
        b"RINGCANCELED" => QlEvent::RingCanceled { ring_ms: ring_ms(&data)? },
        b"ADDMEMBER" => add_member(data.bytes)?,
        b"REMOVEMEMBER" => QlEvent::RemoveMember,
        b"PAUSE" => QlEvent::Pause { reason: data.text(data.bytes) },
        b"UNPAUSE" => QlEvent::Unpause { reason: data.text(data.bytes) },
        b"PAUSEALL" => QlEvent::PauseAll { reason: data.text(data.bytes) },
        b"UNPAUSEALL" => QlEvent::UnpauseAll { reason: data.text(data.bytes) },
        b"PENALTY" => QlEvent::Penalty { penalty: data.num(data.bytes, 1, "new penalty")? },
        b"RINGINUSE" => QlEvent::RingInUse { enabled: data.num(data.bytes, 1, "ringinuse")? != 0 },
        b"AGENTLOGIN" => QlEvent::AgentLogin { channel: data.text(data.bytes) },
        b"AGENTLOGOFF" => {
            let (channel, login_s, reason) = logoff(&data)?;
            QlEvent::AgentLogoff { channel, login_s, reason }
        }
        b"AGENTCALLBACKLOGIN" => QlEvent::AgentCallbackLogin { location: data.text(data.bytes) },
        b"AGENTCALLBACKLOGOFF" => {
            let (location, login_s, reason) = logoff(&data)?;
            QlEvent::AgentCallbackLogoff { location, login_s, reason }
        }
        b"OUTCALL" => out_call(&data)?,
        b"QUEUESTART" => QlEvent::QueueStart,
        b"CONFIGRELOAD" => QlEvent::ConfigReload,
        b"DID" => QlEvent::Did { did: data.text(data.bytes) },
        _ => QlEvent::Unknown { name: line.get(name), data: data.all() },
    })
}

/// `url|callerid|origpos|callerid_name`, `url|callerid|origpos` or `url|callerid`. The URL (first) is
/// free text, so longer lines are read from the end: the 4-field layout when its `origpos` slot holds a
/// number, the 3-field one otherwise. (A URL containing `|` followed by a numeric caller ID without the
/// 4th field is inherently ambiguous; URLs are almost always empty in practice.)
fn enter_queue<'a>(data: &Data<'a>) -> Result<QlEvent<'a>> {
    match data.count {
        2 => {
            let [url, caller_id] = data.front::<2>();
            Ok(QlEvent::EnterQueue {
                url: data.text(url),
                caller_id: data.text(caller_id),
                position: None,
                caller_name: None,
            })
        }
        3 => {
            let [url, caller_id, position] = data.front::<3>();
            let position = data.opt_num(position, 3, "origpos")?;
            Ok(QlEvent::EnterQueue {
                url: data.text(url),
                caller_id: data.text(caller_id),
                position,
                caller_name: None,
            })
        }
        count if count >= 4 => {
            let (url, [caller_id, position, caller_name]) = data.back::<3>();
            if number(position).is_some() {
                let position = data.opt_num(position, count - 1, "origpos")?;
                let caller_name = Some(data.text(caller_name));
                return Ok(QlEvent::EnterQueue {
                    url: data.text(url),
                    caller_id: data.text(caller_id),
                    position,
                    caller_name,
                });
            }
            let (url, [caller_id, position]) = data.back::<2>();
            let position = data.opt_num(position, count, "origpos")?;
            Ok(QlEvent::EnterQueue {
                url: data.text(url),
                caller_id: data.text(caller_id),
                position,
                caller_name: None,
            })
        }
        _ => Err(data.wrong_count("2 to 4")),
    }
}

type Numbers = (Option<i64>, Option<i64>, Option<i64>);

/// Exactly three optional numbers, named for the errors: `pos|origpos|waittime` (ABANDON, EXITEMPTY,
/// EXITWITHTIMEOUT) or `holdtime|calltime|origpos` (COMPLETECALLER, COMPLETEAGENT).
fn three_numbers(data: &Data<'_>, [first, second, third]: [&'static str; 3]) -> Result<Numbers> {
    if data.count != 3 {
        return Err(data.wrong_count("3"));
    }
    let [a, b, c] = data.front::<3>();
    Ok((data.opt_num(a, 1, first)?, data.opt_num(b, 2, second)?, data.opt_num(c, 3, third)?))
}

fn left(data: &Data<'_>) -> Result<Left> {
    let (position, orig_position, wait_s) = three_numbers(data, ["pos", "origpos", "waittime"])?;
    Ok(Left { position, orig_position, wait_s })
}

fn complete(data: &Data<'_>) -> Result<Completed> {
    let (hold_s, talk_s, orig_position) = three_numbers(data, ["holdtime", "calltime", "origpos"])?;
    Ok(Completed { hold_s, talk_s, orig_position })
}

fn exit_with_timeout(data: &Data<'_>) -> Result<Left> {
    match data.count {
        0 | 1 => Ok(Left { position: data.opt_num(data.bytes, 1, "pos")?, ..Left::default() }),
        3 => left(data),
        _ => Err(data.wrong_count("1 or 3")),
    }
}

fn exit_with_key<'a>(data: &Data<'a>) -> Result<QlEvent<'a>> {
    let [key, position, orig, wait] = data.front::<4>();
    let (orig_position, wait_s) = match data.count {
        2 => (None, None),
        4 => (data.opt_num(orig, 3, "origpos")?, data.opt_num(wait, 4, "waittime")?),
        _ => return Err(data.wrong_count("2 or 4")),
    };
    let position = data.opt_num(position, 2, "pos")?;
    Ok(QlEvent::ExitWithKey { key: data.text(key), left: Left { position, orig_position, wait_s } })
}

/// `pos|origpos|waittime|withdraw_info`; the info is free text and optional.
fn withdraw<'a>(data: &Data<'a>) -> Result<QlEvent<'a>> {
    if data.count < 3 {
        return Err(data.wrong_count("4"));
    }
    let [position, orig, wait, info] = data.front::<4>();
    let left = Left {
        position: data.opt_num(position, 1, "pos")?,
        orig_position: data.opt_num(orig, 2, "origpos")?,
        wait_s: data.opt_num(wait, 3, "waittime")?,
    };
    Ok(QlEvent::Withdraw { left, info: data.text(info) })
}

fn connect<'a>(data: &Data<'a>) -> Result<QlEvent<'a>> {
    if !(1..=3).contains(&data.count) {
        return Err(data.wrong_count("1 to 3"));
    }
    let [hold, uniqueid, ring] = data.front::<3>();
    Ok(QlEvent::Connect {
        hold_s: data.opt_num(hold, 1, "holdtime")?,
        agent_uniqueid: (data.count >= 2).then(|| data.text(uniqueid)),
        ring_s: data.opt_num(ring, 3, "ringtime")?,
    })
}

/// `exten|context|holdtime|calltime|origpos` (BLINDTRANSFER, TRANSFER), when the field count is one of
/// `counts` (`expected` says which).
fn to_exten<'a>(data: &Data<'a>, counts: &[usize], expected: &'static str) -> Result<ToExten<'a>> {
    if !counts.contains(&data.count) {
        return Err(data.wrong_count(expected));
    }
    let [exten, context, hold, talk, orig] = data.front::<5>();
    Ok(ToExten {
        exten: data.text(exten),
        context: data.text(context),
        times: Completed {
            hold_s: data.opt_num(hold, 3, "holdtime")?,
            talk_s: data.opt_num(talk, 4, "calltime")?,
            orig_position: data.opt_num(orig, 5, "origpos")?,
        },
    })
}

/// `method|target[|peer]|holdtime|calltime|origpos`: numbers read from the end, method from the front,
/// what is between is the method's data (two channel names for `LINK`).
fn attended_transfer<'a>(data: &Data<'a>) -> Result<QlEvent<'a>> {
    let count = data.count;
    if count < 5 {
        return Err(data.wrong_count("5 or 6"));
    }
    let (head, [hold, talk, orig]) = data.back::<3>();
    let (method, middle) = split_pipe(head).unwrap_or((head, &[]));
    let (target, peer) = match split_pipe(middle) {
        Some((target, peer)) if method == b"LINK" => (target, Some(data.text(peer))),
        _ => (middle, None),
    };
    Ok(QlEvent::AttendedTransfer {
        method: data.text(method),
        target: data.text(target),
        peer,
        times: Completed {
            hold_s: data.opt_num(hold, count - 2, "holdtime")?,
            talk_s: data.opt_num(talk, count - 1, "calltime")?,
            orig_position: data.opt_num(orig, count, "origpos")?,
        },
    })
}

fn ring_ms(data: &Data<'_>) -> Result<Option<i64>> {
    if data.count > 1 {
        return Err(data.wrong_count("1"));
    }
    data.opt_num(data.bytes, 1, "ringtime_ms")
}

fn add_member(data: &[u8]) -> Result<QlEvent<'_>> {
    match data {
        b"" => Ok(QlEvent::AddMember { paused: false }),
        b"PAUSED" => Ok(QlEvent::AddMember { paused: true }),
        other => Err(ErrorKind::BadValue {
            event: "ADDMEMBER".into(),
            field: 1,
            name: "paused flag",
            expected: "empty or PAUSED",
            value: snippet(other),
        }),
    }
}

type Logoff<'a> = (Text<'a>, Option<i64>, Option<Text<'a>>);

/// `channel|logintime|reason` with the later fields optional; reason is free text.
fn logoff<'a>(data: &Data<'a>) -> Result<Logoff<'a>> {
    let [channel, login, reason] = data.front::<3>();
    let login_s = data.opt_num(login, 2, "logintime")?;
    Ok((data.text(channel), login_s, (data.count >= 3).then(|| data.text(reason))))
}

/// `status|talktime|params`; params is free text (conventionally `totaltime|callednumber`).
fn out_call<'a>(data: &Data<'a>) -> Result<QlEvent<'a>> {
    if data.count < 3 {
        return Err(data.wrong_count("3"));
    }
    let [status, talk, params] = data.front::<3>();
    Ok(QlEvent::OutCall {
        status: data.text(status),
        talk_s: data.opt_num(talk, 2, "talktime")?,
        params: data.text(params),
    })
}

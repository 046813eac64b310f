#!/usr/bin/node
// A peer of gpprobed for the benchmarks: the same golden path with Node.js (https, and the
// `ws` package from bench/peers/node: `npm ci --prefix bench/peers/node`), the same steps and
// checks as gpprobed's default configuration and bench/peers/probe.py:
//
//   login (POST JSON, 200, token at access_token, a fresh connection), WebSocket with the
//   token as subprotocol (jwt-auth, jwt.<token>), wait for connection_established, send the
//   user_message, match the five events in order (Repeatable, Fail, run_id correlation at
//   run_id / data.run_id / payload.run_id), check the final response, close with 1000.
//
// Event times are taken when a message has been read, as CLOCK_MONOTONIC
// (process.hrtime.bigint, libuv's uv_hrtime), relative to the moment the request was written
// (t=0). One JSON line per run on stdout, the same shape as probe.py's.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';

const require = createRequire(new URL('./node/', import.meta.url));
const WebSocket = require('ws');

const EXPECT = ['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'];
const REPEATABLE = new Set(['agent_thinking', 'tool_executing', 'tool_completed']);
const FAIL = new Set(['agent_error', 'agent_death', 'error_message', 'error']);
const CORRELATE = [['run_id'], ['data', 'run_id'], ['payload', 'run_id']];
const RESPONSE = [['final_response'], ['result'], ['data', 'result'], ['payload', 'result']];
const ERROR = [['data', 'error_message'], ['error_message'], ['message']];

const nowUs = () => Number(process.hrtime.bigint() / 1000n);

function pathGet(obj, path) {
  for (const key of path) {
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj) || !(key in obj)) return undefined;
    obj = obj[key];
  }
  return obj;
}

function firstString(obj, paths) {
  for (const p of paths) {
    const v = pathGet(obj, p);
    if (typeof v === 'string') return v;
  }
  return undefined;
}

class Failed extends Error {
  constructor(code, reason) {
    super(reason);
    this.code = code;
  }
}

function withTimeout(promise, seconds, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Failed('events.timeout', `no ${what} within ${seconds}s`)), seconds * 1000);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

class Session {
  constructor(index, args) {
    this.index = index;
    this.args = args;
    this.runId = randomUUID();
    this.threadId = randomUUID();
    this.t0 = null;
    this.events = new Map(); // type -> [firstAtUs, count]
  }

  record(type, at) {
    const e = this.events.get(type);
    if (e) e[1] += 1;
    else this.events.set(type, [at, 1]);
  }

  // true when the terminal event arrived and the response checked out
  feed(data, at) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return false;
    }
    if (msg === null || typeof msg !== 'object' || typeof msg.type !== 'string') return false;
    const type = msg.type;
    const rid = firstString(msg, CORRELATE);
    if (rid !== undefined && rid !== this.runId) throw new Failed('events.crosstalk', `${type} carried run_id '${rid}'`);
    if (FAIL.has(type)) {
      this.record(type, at);
      throw new Failed('events.error', `${type}: ${firstString(msg, ERROR)}`);
    }
    const i = EXPECT.indexOf(type);
    if (i < 0) return false;
    if (this.events.has(type) && !REPEATABLE.has(type)) throw new Failed('events.order', `${type} repeated`);
    if (!this.events.has(type) && EXPECT.slice(i + 1).some((t) => this.events.has(t)))
      throw new Failed('events.order', `${type} after a later event`);
    this.record(type, at);
    if (type !== EXPECT[EXPECT.length - 1]) return false;
    const missing = EXPECT.filter((t) => !this.events.has(t));
    if (missing.length) throw new Failed('events.missing', `missing ${missing.join(' ')}`);
    if (!firstString(msg, RESPONSE)) throw new Failed('response.empty', 'no response');
    return true;
  }

  login() {
    const a = this.args;
    const url = new URL(a['login-url']);
    const body = JSON.stringify({ email: a.user.replaceAll('${index}', String(this.index)), password: a.password });
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      // agent: false: a fresh connection, like a new user (gpprobed too)
      const req = mod.request(url, {
        method: 'POST', agent: false, ca: a.caPem,
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
      }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new Failed('login.status', `login answered HTTP ${res.statusCode}`));
          let token;
          try {
            token = JSON.parse(Buffer.concat(chunks).toString()).access_token;
          } catch {
            token = undefined;
          }
          if (typeof token !== 'string' || !token) return reject(new Failed('login.token', 'no access_token'));
          resolve(token);
        });
        res.on('error', reject);
      });
      req.on('error', (e) => reject(new Failed('net.connect', e.message)));
      req.end(body);
    });
  }

  async run() {
    const a = this.args;
    const token = a['login-url'] ? await this.login() : a.token;
    const ws = new WebSocket(a['ws-url'], ['jwt-auth', `jwt.${token}`], { ca: a.caPem, maxPayload: 16 << 20 });
    this.ws = ws;
    try {
      await new Promise((resolve, reject) => {
        let ready = false;
        ws.on('message', (data, isBinary) => {
          const at = nowUs();
          if (isBinary) return;
          if (!ready) {
            try {
              if (JSON.parse(data).type === 'connection_established') {
                ready = true;
                ws.send(JSON.stringify({
                  type: 'user_message',
                  payload: { content: a.prompt, thread_id: this.threadId, run_id: this.runId },
                }), (err) => { if (err) reject(new Failed('ws.closed', err.message)); });
                this.t0 = nowUs(); // the frame has been handed to the socket
              }
            } catch { /* not JSON: not the ready message */ }
            return;
          }
          try {
            if (this.feed(data.toString(), at)) resolve();
          } catch (e) {
            reject(e);
          }
        });
        ws.on('close', (code) => reject(new Failed('ws.closed', `connection closed (code ${code})`)));
        ws.on('error', (e) => reject(new Failed('net.connect', e.message)));
      });
    } finally {
      ws.close(1000);
    }
  }

  toJSON(error) {
    return {
      index: this.index, run_id: this.runId,
      result: error ? 'fail' : 'pass', code: error ? error.code ?? 'internal' : null,
      reason: error ? error.message : null, t0_mono_us: this.t0,
      events: [...this.events].map(([type, [at, count]]) => ({
        type, at_ms: Math.round((at - this.t0) / 1) / 1000, at_mono_us: at, count,
      })),
    };
  }
}

async function oneSession(index, args) {
  const s = new Session(index, args);
  let error = null;
  try {
    await withTimeout(s.run(), args.timeout, 'terminal event');
  } catch (e) {
    error = e;
    s.ws?.terminate(); // a timed-out session must not keep the process alive
  }
  return s.toJSON(error);
}

async function oneRun(args) {
  const start = nowUs();
  const sessions = await Promise.all(Array.from({ length: args.users }, (_, i) => oneSession(i + 1, args)));
  const failed = sessions.filter((s) => s.result !== 'pass');
  return {
    result: failed.length ? 'fail' : 'pass',
    code: failed.length ? failed[0].code : null,
    reason: failed.length ? `session ${failed[0].index}: ${failed[0].reason}` : null,
    duration_ms: (nowUs() - start) / 1000,
    sessions,
  };
}

async function main() {
  const { values } = parseArgs({
    options: {
      'login-url': { type: 'string' }, token: { type: 'string' }, 'ws-url': { type: 'string' },
      ca: { type: 'string' }, user: { type: 'string', default: 'probe${index}@example.com' },
      password: { type: 'string', default: 's3cret-pass' },
      prompt: { type: 'string', default: 'Reply with the word ready.' },
      users: { type: 'string', default: '1' }, runs: { type: 'string', default: '1' },
      interval: { type: 'string', default: '0' }, timeout: { type: 'string', default: '60' },
      quiet: { type: 'boolean', default: false },
    },
  });
  const args = {
    ...values, users: Number(values.users), runs: Number(values.runs),
    interval: Number(values.interval), timeout: Number(values.timeout),
    caPem: values.ca ? readFileSync(values.ca) : undefined,
  };
  let ok = true;
  for (let i = 0; i < args.runs; i++) {
    const res = await oneRun(args);
    ok = ok && res.result === 'pass';
    if (!args.quiet) process.stdout.write(JSON.stringify(res) + '\n');
    if (args.interval) await new Promise((r) => setTimeout(r, args.interval * 1000));
  }
  return ok ? 0 : 1;
}

process.exitCode = await main();

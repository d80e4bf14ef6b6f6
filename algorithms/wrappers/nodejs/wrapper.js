#!/usr/bin/env node
'use strict';
/*
 * HKube algorithm wrapper for Node.js (Node 20 standard library only).
 *
 *   WORKER_SOCKET_URL=ws://127.0.0.1:<port>/<slot> ALGORITHM_PATH=<folder> \
 *   ALGORITHM_ENTRY_POINT=index.js node wrapper.js
 *
 * Connects to the worker with `?storage=v1&encoding=json&pipelined=1&streamBatch=1` and speaks the HKube worker
 * protocol with JSON text frames: initialize -> init(data) -> initialized; start -> started,
 * start(args, api) (a value or a Promise) -> done {data} or errorMessage {error: {code, message}};
 * stop -> stop(data), wait for start to settle, stopped (the result is dropped); exit -> exit(data),
 * close, process exit. Code API (`api`): progress, and sub-pipelines as in HKube's Node.js wrapper,
 * startRawSubpipeline / startStoredSubpipeline (Promises), plus stopSubpipeline / runningSubpipelines.
 *
 * Streaming (`kind: "stream"`, HKube's v1 path over this socket): api.sendMessage(message, flowName)
 * sends streamingOutMessage {message, flowName, sendMessageId}, where sendMessageId is the id of
 * the streamingInMessage being handled (null outside a listener), as HKube's wrappers do.
 * api.registerInputListener(fn) + api.startMessageListening(): each streamingInMessage {payload,
 * origin, sendMessageId} calls every listener with {payload, origin, sendMessage} (HKube's Node.js
 * listener shape), one message at a time in arrival order, then answers streamingInMessageDone
 * {sendMessageId}; messages that arrive before startMessageListening wait for it. A stateless node
 * (`stateType: "stateless"`): init once, then start({...task, streamInput: {message, origin}}, api)
 * per message, its value sent on as a streamingOutMessage when the node has childs. A stop without
 * forceStop sends `stopping` at once and every second until the messages received are handled.
 * With our worker (the task says `streamBatch`, after `streamBatch=1` in the query) messages come
 * and go many per frame: streamingInMessages {messages} is handled in order and answered by one
 * streamingInMessagesDone {sendMessageIds, messages: the outputs}, and the node's own messages
 * leave as streamingOutMessages {messages}, each frame taking what was sent in one turn of the
 * event loop (and always before any later frame).
 */

const { AsyncLocalStorage } = require('async_hooks');
const crypto = require('crypto');
const net = require('net');
const path = require('path');
const { URL } = require('url');

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const OP = { CONT: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa };
const RECONNECT_INTERVAL_MS = 100;
const RECONNECT_TIMEOUT_MS = 30000;
const STOPPING_INTERVAL_MS = 1000;
const BYTES_OVER_JSON = 'the algorithm returned binary data (Buffer/Uint8Array), which a JSON connection '
    + 'cannot carry; return text or plain values';

// ------------------------------------------------------------------------------------------------
// Minimal RFC 6455 client: masked frames, fragments, ping/pong, closing handshake.
// ------------------------------------------------------------------------------------------------

class WebSocketClient {
    constructor(socket, onMessage, onClose) {
        this.socket = socket;
        this.onMessage = onMessage;
        this.onClose = onClose;
        this.chunks = [];
        this.buffered = 0;
        this.fragments = [];
        this.fragmentOpcode = -1;
        this.closeSent = false;
        this.closed = false;
        socket.on('data', (chunk) => this._onData(chunk));
        socket.on('close', () => this._finish(1006, 'connection lost'));
        socket.on('error', () => {}); // 'close' follows and reports it
    }

    static connect(url) {
        return new Promise((resolve, reject) => {
            const target = new URL(url);
            if (target.protocol !== 'ws:') {
                reject(new Error(`only ws:// URLs are supported, got ${url}`));
                return;
            }
            const port = Number(target.port || 80);
            const key = crypto.randomBytes(16).toString('base64');
            const socket = net.connect({ host: target.hostname, port });
            socket.setNoDelay(true);
            let head = Buffer.alloc(0);
            const fail = (err) => {
                socket.destroy();
                reject(err);
            };
            const onClose = () => fail(new Error('connection closed during the WebSocket handshake'));
            const onData = (chunk) => {
                head = Buffer.concat([head, chunk]);
                const end = head.indexOf('\r\n\r\n');
                if (end < 0) {
                    return;
                }
                socket.removeListener('data', onData);
                socket.removeListener('error', fail);
                socket.removeListener('close', onClose);
                const lines = head.subarray(0, end).toString('latin1').split('\r\n');
                const status = lines[0].split(' ')[1];
                const headers = {};
                for (const line of lines.slice(1)) {
                    const i = line.indexOf(':');
                    headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
                }
                const accept = crypto.createHash('sha1').update(key + GUID).digest('base64');
                if (status !== '101' || headers['sec-websocket-accept'] !== accept) {
                    fail(new Error(`server refused the WebSocket upgrade: ${lines[0]}`));
                    return;
                }
                resolve({ socket, rest: head.subarray(end + 4) });
            };
            socket.on('data', onData);
            socket.on('error', fail);
            socket.on('close', onClose);
            socket.on('connect', () => {
                socket.write(`GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\n`
                    + 'Upgrade: websocket\r\nConnection: Upgrade\r\n'
                    + `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
            });
        });
    }

    send(text) {
        this._sendFrame(OP.TEXT, Buffer.from(text, 'utf8'));
    }

    _sendFrame(opcode, payload) {
        if (this.closed) {
            throw new Error('WebSocket connection is closed');
        }
        const n = payload.length;
        const headerLength = n < 126 ? 2 : n < 65536 ? 4 : 10;
        const frame = Buffer.allocUnsafe(headerLength + 4 + n);
        frame[0] = 0x80 | opcode;
        if (n < 126) {
            frame[1] = 0x80 | n;
        } else if (n < 65536) {
            frame[1] = 0x80 | 126;
            frame.writeUInt16BE(n, 2);
        } else {
            frame[1] = 0x80 | 127;
            frame.writeBigUInt64BE(BigInt(n), 2);
        }
        crypto.randomFillSync(frame, headerLength, 4);
        const m0 = frame[headerLength];
        const m1 = frame[headerLength + 1];
        const m2 = frame[headerLength + 2];
        const m3 = frame[headerLength + 3];
        const base = headerLength + 4;
        let i = 0;
        for (; i + 3 < n; i += 4) {
            frame[base + i] = payload[i] ^ m0;
            frame[base + i + 1] = payload[i + 1] ^ m1;
            frame[base + i + 2] = payload[i + 2] ^ m2;
            frame[base + i + 3] = payload[i + 3] ^ m3;
        }
        const masks = [m0, m1, m2, m3];
        for (; i < n; i += 1) {
            frame[base + i] = payload[i] ^ masks[i & 3];
        }
        this.socket.write(frame);
    }

    _onData(chunk) {
        this.chunks.push(chunk);
        this.buffered += chunk.length;
        while (!this.closed && this._parseFrame()) {
            // one frame per iteration
        }
    }

    // Joins chunks only when a whole frame is there, so a large frame is copied once.
    _peek(n) {
        if (this.chunks[0].length < n) {
            this.chunks = [Buffer.concat(this.chunks)];
        }
        return this.chunks[0];
    }

    _consume(n) {
        const buf = this._peek(n);
        const out = buf.subarray(0, n);
        if (buf.length === n) {
            this.chunks.shift();
        } else {
            this.chunks[0] = buf.subarray(n);
        }
        this.buffered -= n;
        return out;
    }

    _parseFrame() {
        if (this.buffered < 2) {
            return false;
        }
        const head = this._peek(Math.min(this.buffered, 14));
        const fin = (head[0] & 0x80) !== 0;
        const opcode = head[0] & 0x0f;
        const masked = (head[1] & 0x80) !== 0;
        let length = head[1] & 0x7f;
        let offset = 2;
        if (length === 126) {
            if (head.length < 4) return false;
            length = head.readUInt16BE(2);
            offset = 4;
        } else if (length === 127) {
            if (head.length < 10) return false;
            length = Number(head.readBigUInt64BE(2));
            offset = 10;
        }
        const total = offset + (masked ? 4 : 0) + length;
        if (this.buffered < total) {
            return false;
        }
        const frame = this._consume(total);
        let payload = frame.subarray(offset + (masked ? 4 : 0));
        if (masked) {
            const key = frame.subarray(offset, offset + 4);
            payload = Buffer.from(payload);
            for (let i = 0; i < payload.length; i += 1) {
                payload[i] ^= key[i & 3];
            }
        }
        if (opcode >= OP.CLOSE) {
            this._onControl(opcode, payload);
            return true;
        }
        if (opcode !== OP.CONT) {
            this.fragmentOpcode = opcode;
            this.fragments = [payload];
        } else {
            this.fragments.push(payload);
        }
        if (fin) {
            const data = this.fragments.length === 1 ? this.fragments[0] : Buffer.concat(this.fragments);
            this.fragments = [];
            this.onMessage(this.fragmentOpcode === OP.TEXT ? data.toString('utf8') : data);
        }
        return true;
    }

    _onControl(opcode, payload) {
        if (opcode === OP.PING) {
            this._sendFrame(OP.PONG, payload);
        } else if (opcode === OP.CLOSE) {
            const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
            if (!this.closeSent) {
                this.closeSent = true;
                this._sendFrame(OP.CLOSE, payload.subarray(0, 2));
            }
            this.socket.end();
            this._finish(code, payload.subarray(2).toString('utf8'));
        }
    }

    close(code = 1000) {
        if (this.closed) {
            return Promise.resolve();
        }
        return new Promise((resolve) => {
            const timer = setTimeout(() => this.socket.destroy(), 2000);
            this.socket.once('close', () => {
                clearTimeout(timer);
                resolve();
            });
            if (!this.closeSent) {
                this.closeSent = true;
                const body = Buffer.alloc(2);
                body.writeUInt16BE(code, 0);
                this._sendFrame(OP.CLOSE, body);
            }
        });
    }

    _finish(code, reason) {
        if (!this.closed) {
            this.closed = true;
            this.onClose(code, reason);
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Loading the user's code.
// ------------------------------------------------------------------------------------------------

async function loadAlgorithm(folder, entryPoint) {
    if (folder) {
        try {
            process.chdir(folder);
        } catch (err) {
            return { error: `cannot enter ALGORITHM_PATH ${folder}: ${err.message}` };
        }
    }
    const file = path.resolve(process.cwd(), entryPoint);
    let mod;
    try {
        try {
            mod = require(file);
        } catch (err) {
            if (err.code !== 'ERR_REQUIRE_ESM') {
                throw err;
            }
            mod = await import(require('url').pathToFileURL(file).href);
        }
    } catch (err) {
        console.error(err);
        return { error: `failed to load algorithm entry point '${entryPoint}': ${err.message}` };
    }
    const exported = mod && typeof mod.start !== 'function' && mod.default ? mod.default : mod;
    if (!exported || typeof exported.start !== 'function') {
        return { error: `algorithm entry point '${entryPoint}' does not export a start function` };
    }
    const optional = (name) => (typeof exported[name] === 'function' ? exported[name].bind(exported) : null);
    return {
        algorithm: {
            start: exported.start.bind(exported),
            init: optional('init'),
            stop: optional('stop'),
            exit: optional('exit'),
        },
    };
}

// ------------------------------------------------------------------------------------------------
// The protocol.
// ------------------------------------------------------------------------------------------------

function errorText(err) {
    if (err instanceof Error) {
        return err.message || err.name;
    }
    return String(err);
}

function rejectBinary(key, value) {
    const raw = this[key];
    if (raw instanceof Uint8Array || raw instanceof ArrayBuffer) {
        throw new Error(BYTES_OVER_JSON);
    }
    return value;
}

const notYet = (name) => async () => {
    throw new Error(`${name} is not supported by this wrapper yet (the code API for sub-algorithms `
        + 'is planned); run the work as pipeline nodes instead');
};

const SUB_PIPELINE_REPLIES = new Set(['subPipelineDone', 'subPipelineError', 'subPipelineStopped']);

// The streamingInMessage whose listeners run, {id, outputs} (HKube's wrappers keep its
// sendMessageId per thread); api.sendMessage sends the id, so the worker routes the message with
// the incoming one's flow. `outputs` collects them when the message came in a batch.
const inMessage = new AsyncLocalStorage();

// Our worker's frames of many messages (`streamBatch`, docs/streaming.md): at most this many of
// the node's own messages per streamingOutMessages frame.
const OWN_PER_FRAME = 500;

const isStatelessTask = (job) => Boolean(job && job.kind === 'stream' && job.stateType === 'stateless');

class Runner {
    constructor(url, algorithm, loadError) {
        this.url = url;
        this.algorithm = algorithm;
        this.loadError = loadError || 'the algorithm could not be loaded';
        this.ws = null;
        this.job = null;
        this.current = null;
        this.exiting = false;
        // Sub-pipeline calls waiting for their end, by subPipelineId (a per-process counter, as
        // HKube's wrapper numbers them); a stop settles them all (`stopping` until the next start).
        this.calls = new Map();
        this.lastCallId = 0;
        this.stopping = false;
        this.api = {
            progress: (percent, message = '') => this.send({ command: 'progress', data: { progress: percent, message } }),
            startAlgorithm: notYet('startAlgorithm'),
            // As in HKube's Node.js wrapper: resolves with the child's results (null with
            // includeResult=false or when the child was stopped), rejects with the error message
            // (a string) when the child failed or could not start.
            startRawSubpipeline: (name, nodes, flowInput, options = {}, webhooks = {}, includeResult = true) => (
                this.subPipeline('startRawSubPipeline', { name, nodes, flowInput, options, webhooks }, includeResult)),
            startStoredSubpipeline: (name, flowInput = {}, includeResult = true) => (
                this.subPipeline('startStoredSubPipeline', { name, flowInput }, includeResult)),
            stopSubpipeline: (subPipelineId, reason = '') => this.send({
                command: 'stopSubPipeline', data: { subPipelineId: String(subPipelineId), reason },
            }),
            runningSubpipelines: () => [...this.calls.keys()],
            sendMessage: (message, flowName) => this.sendMessage(message, flowName),
            registerInputListener: (onMessage) => {
                if (typeof onMessage !== 'function') {
                    throw new TypeError('registerInputListener expects a function');
                }
                this.inputListeners.push(onMessage);
            },
            startMessageListening: () => {
                this.listening = true;
                this.pump();
            },
            isListeningToMessages: () => this.listening,
        };
        // Streaming: streamingInMessage payloads not handled yet (in arrival order), the listeners
        // of the running task, and the handling in progress (a Promise, null when idle).
        this.inbox = [];
        this.inputListeners = [];
        this.listening = false;
        this.handling = null;
        // Many messages per frame when the task says streamBatch (our worker): the node's own
        // messages wait in `own` until the next turn of the event loop, or the next other frame.
        this.batch = false;
        this.own = [];
        this.ownScheduled = false;
    }

    // --- streaming ------------------------------------------------------------------------------

    sendMessage(message, flowName, context = inMessage.getStore()) {
        const sendMessageId = context && context.id !== undefined ? context.id : null;
        const data = {
            message: message === undefined ? null : message,
            flowName: flowName === undefined || flowName === null ? null : String(flowName),
            sendMessageId,
        };
        if (context && context.outputs && !context.closed) {
            JSON.stringify(data, rejectBinary); // a value JSON cannot carry fails here, in the caller
            context.outputs.push(data); // leaves with the answer to its batch
        } else if (this.batch && sendMessageId === null) {
            JSON.stringify(data, rejectBinary);
            this.own.push(data);
            if (!this.ownScheduled) {
                this.ownScheduled = true;
                setImmediate(() => this.flushOwn());
            }
        } else {
            this.sendText(JSON.stringify({ command: 'streamingOutMessage', data }, rejectBinary));
        }
    }

    // The node's own messages waiting, as streamingOutMessages frames (before any other frame).
    flushOwn() {
        this.ownScheduled = false;
        while (this.own.length) {
            const messages = this.own.splice(0, OWN_PER_FRAME);
            this.writeText(JSON.stringify({ command: 'streamingOutMessages', data: { messages } }));
        }
    }

    onStreamingIn(data) {
        this.inbox.push(data || {});
        this.pump();
    }

    onStreamingInMany(data) {
        const messages = data && Array.isArray(data.messages) ? data.messages : [];
        if (messages.length) {
            this.inbox.push({ batch: messages });
            this.pump();
        }
    }

    // Hands the waiting messages to the listeners one at a time, while the task listens.
    pump() {
        if (this.handling || !this.listening || !this.inbox.length) {
            return;
        }
        const data = this.inbox.shift();
        const handled = data.batch ? this.handleBatch(data.batch) : this.handleStreamingIn(data);
        this.handling = handled.finally(() => {
            this.handling = null;
            this.pump();
        });
    }

    async handleStreamingIn(data) {
        const sendMessageId = await this.callListeners(data, null);
        this.send({ command: 'streamingInMessageDone', data: { sendMessageId } });
    }

    // A streamingInMessages frame: its messages in order, answered by one frame with the outputs.
    async handleBatch(messages) {
        const outputs = [];
        const sendMessageIds = [];
        for (const data of messages) {
            sendMessageIds.push(await this.callListeners(data || {}, outputs));
        }
        this.send({ command: 'streamingInMessagesDone', data: { sendMessageIds, messages: outputs } });
    }

    // Every listener on one message; resolves with its sendMessageId.
    async callListeners(data, outputs) {
        const { payload, origin } = data;
        const sendMessageId = data.sendMessageId === undefined ? null : data.sendMessageId;
        const listeners = this.inputListeners.slice();
        if (!listeners.length) {
            console.error('hkube wrapper: a streaming message arrived and no input listener is registered');
        }
        // `closed` once its listeners returned: a later sendMessage from a callback goes alone.
        const context = { id: sendMessageId, outputs, closed: false };
        const sendMessage = (message, flowName) => this.sendMessage(message, flowName, context);
        for (const listener of listeners) {
            try {
                await inMessage.run(context, () => listener({ payload, origin, sendMessage }));
            } catch (err) {
                console.error(`hkube wrapper: an input listener failed: ${errorText(err)}`);
                console.error(err);
            }
        }
        context.closed = true;
        return sendMessageId;
    }

    // Resolves once the messages received so far are handled (at once when nobody listens).
    async drain() {
        while (this.handling) {
            await this.handling;
        }
    }

    // The task's end: no more listening; messages it did not take are dropped (never acknowledged,
    // so the worker can deliver them again).
    endStreaming() {
        this.listening = false;
        this.inputListeners = [];
        if (this.inbox.length) {
            console.error(`hkube wrapper: ${this.inbox.length} streaming message(s) not handled by the task `
                + 'were dropped');
            this.inbox = [];
        }
    }

    // The stateless shape: start once per message, its value sent on to the childs.
    async runStateless(task, args) {
        const hasChilds = Array.isArray(args.childs) && args.childs.length > 0;
        let failed = null;
        const ended = new Promise((resolve) => {
            task.endStateless = resolve;
        });
        this.inputListeners.push(async ({ payload, origin }) => {
            try {
                let result = this.algorithm.start({ ...args, streamInput: { message: payload, origin } }, this.api);
                if (result && typeof result.then === 'function') {
                    result = await result;
                }
                if (hasChilds) {
                    this.api.sendMessage(result);
                }
            } catch (err) {
                console.error(err);
                failed = err;
                this.listening = false;
                setImmediate(() => task.endStateless());
            }
        });
        this.api.startMessageListening();
        await ended;
        await this.drain();
        if (failed) {
            throw failed;
        }
    }

    subPipeline(command, subPipeline, includeResult) {
        if (this.stopping) {
            return Promise.resolve(null);
        }
        this.lastCallId += 1;
        const subPipelineId = String(this.lastCallId);
        return new Promise((resolve, reject) => {
            this.calls.set(subPipelineId, { resolve, reject, includeResult });
            this.send({ command, data: { subPipeline, subPipelineId, includeResult } });
        });
    }

    onReply(command, data) {
        const id = data && String(data.subPipelineId);
        const call = this.calls.get(id);
        if (!call) {
            return; // released by a stop
        }
        this.calls.delete(id);
        if (command === 'subPipelineDone') {
            call.resolve(call.includeResult && data.response !== undefined ? data.response : null);
        } else if (command === 'subPipelineError') {
            call.reject(data.error);
        } else {
            call.resolve(null);
        }
    }

    releaseCalls() {
        this.stopping = true;
        const calls = [...this.calls.values()];
        this.calls.clear();
        calls.forEach((call) => call.resolve(null));
    }

    sendText(text) {
        if (this.own.length) {
            this.flushOwn(); // the node's own messages keep their place before any later frame
        }
        this.writeText(text);
    }

    writeText(text) {
        if (!this.ws || this.ws.closed) {
            console.error('hkube wrapper: a message to the worker was lost: not connected');
            return;
        }
        this.ws.send(text);
    }

    send(message) {
        this.sendText(JSON.stringify(message));
    }

    sendError(message) {
        this.send({ command: 'errorMessage', error: { code: 'Failed', message } });
    }

    async connect() {
        const deadline = Date.now() + RECONNECT_TIMEOUT_MS;
        for (;;) {
            try {
                const { socket, rest } = await WebSocketClient.connect(this.url);
                this.ws = new WebSocketClient(socket, (m) => this.onMessage(m), () => this.onClose());
                if (rest.length) {
                    this.ws._onData(rest);
                }
                return;
            } catch (err) {
                if (Date.now() >= deadline) {
                    console.error(`hkube wrapper: cannot connect to the worker at ${this.url} within `
                        + `${RECONNECT_TIMEOUT_MS / 1000} s (${err.message}); exiting`);
                    process.exit(1);
                }
            }
            await new Promise((r) => setTimeout(r, RECONNECT_INTERVAL_MS));
        }
    }

    onClose() {
        if (!this.exiting) {
            this.connect(); // the worker may come back; all state is kept
        }
    }

    onMessage(frame) {
        let message;
        try {
            message = JSON.parse(frame);
        } catch (err) {
            console.error(`hkube wrapper: ignoring a frame that is not JSON: ${err.message}`);
            return;
        }
        switch (message && message.command) {
            case 'initialize':
                this.onInitialize(message.data);
                break;
            case 'start':
                this.onStart();
                break;
            case 'stop':
                this.onStop(message.data);
                break;
            case 'exit':
                this.onExit(message.data);
                break;
            case 'streamingInMessage':
                this.onStreamingIn(message.data);
                break;
            case 'streamingInMessages':
                this.onStreamingInMany(message.data);
                break;
            default:
                if (SUB_PIPELINE_REPLIES.has(message && message.command)) {
                    this.onReply(message.command, message.data);
                }
                break; // subPipelineStarted and unknown commands are ignored, like HKube's wrapper
        }
    }

    onInitialize(data) {
        this.job = null;
        // Our worker takes a stream task's messages many per frame (the field is ours, removed).
        this.batch = Boolean(data && data.streamBatch);
        if (data && typeof data === 'object') {
            delete data.streamBatch;
        }
        if (!this.algorithm) {
            this.sendError(this.loadError);
            return;
        }
        let pending = null;
        if (this.algorithm.init) {
            try {
                pending = this.algorithm.init(data);
            } catch (err) {
                console.error(err);
                this.sendError(errorText(err));
                return;
            }
        }
        if (pending && typeof pending.then === 'function') {
            // An async init: a pipelined start waits on this promise (null when init failed).
            this.job = Promise.resolve(pending).then(() => {
                this.sendText('{"command":"initialized","data":null}');
                return data;
            }, (err) => {
                console.error(err);
                this.sendError(errorText(err));
                return null;
            });
            return;
        }
        this.job = data;
        this.sendText('{"command":"initialized","data":null}');
    }

    onStart() {
        const job = this.job;
        this.job = null;
        if (job === null) {
            return; // no successful initialize before it
        }
        const task = { stopped: false, done: null, streaming: false, endStateless: null };
        this.current = task;
        this.stopping = false;
        task.done = this.runTask(task, job).finally(() => {
            if (this.current === task) {
                this.current = null;
            }
        });
    }

    async runTask(task, job) {
        const args = job && typeof job.then === 'function' ? await job : job;
        if (args === null || task.stopped) {
            return; // async init failed (already reported) or stopped before starting
        }
        task.streaming = args.kind === 'stream';
        this.sendText('{"command":"started","data":null}');
        let text;
        try {
            let result;
            if (isStatelessTask(args)) {
                await this.runStateless(task, args); // until a stop (or a failing start)
            } else {
                result = this.algorithm.start(args, this.api);
                if (result && typeof result.then === 'function') {
                    result = await result;
                }
            }
            try {
                text = JSON.stringify({ command: 'done', data: result === undefined ? null : result }, rejectBinary);
            } catch (err) {
                text = JSON.stringify({
                    command: 'errorMessage',
                    error: { code: 'Failed', message: `cannot send the result of start(): ${errorText(err)}` },
                });
            }
        } catch (err) {
            console.error(err);
            text = JSON.stringify({ command: 'errorMessage', error: { code: 'Failed', message: errorText(err) } });
        }
        if (task.streaming) {
            this.listening = false; // the message in hand, if any, is acknowledged before the end
            await this.drain();
        }
        if (!task.stopped) {
            this.endStreaming();
            this.sendText(text);
        }
    }

    async onStop(data) {
        const task = this.current;
        if (task) {
            task.stopped = true; // its result, if any, is dropped
            if (task.streaming && !(data && data.forceStop)) {
                // HKube's graceful stop: `stopping` every second while the messages drain.
                this.sendText('{"command":"stopping","data":null}');
                const beat = setInterval(() => this.sendText('{"command":"stopping","data":null}'),
                    STOPPING_INTERVAL_MS);
                try {
                    await this.drain();
                } finally {
                    clearInterval(beat);
                }
            }
            this.listening = false;
            if (task.endStateless) {
                task.endStateless();
            }
        }
        if (this.algorithm && this.algorithm.stop) {
            try {
                await this.algorithm.stop(data);
            } catch (err) {
                console.error(err);
            }
        }
        this.releaseCalls(); // a start waiting on a sub-pipeline settles, so the stop completes
        if (task) {
            await task.done;
        }
        this.endStreaming();
        this.sendText('{"command":"stopped","data":null}');
    }

    async onExit(data) {
        this.exiting = true;
        const code = (data && data.exitCode) || 0;
        if (this.algorithm && this.algorithm.exit) {
            try {
                await this.algorithm.exit(data);
            } catch (err) {
                console.error(err);
            }
        }
        if (this.ws) {
            await this.ws.close();
        }
        process.exit(code);
    }
}

async function main() {
    const base = (process.env.WORKER_SOCKET_URL || '').trim();
    if (!base) {
        console.error('hkube wrapper: WORKER_SOCKET_URL is not set (the worker passes its ws:// URL)');
        process.exit(2);
    }
    const url = `${base}${base.includes('?') ? '&' : '?'}storage=v1&encoding=json&pipelined=1&streamBatch=1`;
    const { algorithm, error } = await loadAlgorithm(
        process.env.ALGORITHM_PATH || '',
        process.env.ALGORITHM_ENTRY_POINT || 'index.js',
    );
    const runner = new Runner(url, algorithm, error);
    await runner.connect();
}

main();

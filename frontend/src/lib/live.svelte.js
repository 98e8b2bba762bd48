// Live updates: one EventSource on /api/events per page, shared by every component
// that listens, opened by the first listener and closed soon after the last one goes.
//
// Each message is an event `{id, type, time, data}` (item.created/updated/deleted).
// Listeners also get `{type: 'events.reset'}` whenever they may have missed something
// and must reload what they show: when the server says so (it could not replay after
// Last-Event-ID), and when a connection opens without a replay (the first one, whose
// start may come after the page loaded its data, or a new one after a failure).
//
// The browser reconnects by itself after a dropped stream, sending Last-Event-ID, so
// the server replays what was missed. It gives up only when the server answered with
// an error (a 503 while it shuts down, say): then a new EventSource is made after a
// growing pause. A hidden tab closes its connection (browsers allow few per server
// over HTTP/1.1) and opens a new one, with a reset, when it is shown again.

import { onMount } from 'svelte';

const EVENTS_URL = '/api/events';
// Kept open this long after the last listener left, so a navigation from one live
// page to the next keeps the same connection (and misses nothing in between).
const LINGER_MS = 1000;
const RETRY_MIN_MS = 2000;
const RETRY_MAX_MS = 30000;

/** `status`: 'off' (nobody listens), 'connecting' or 'open'. */
export const live = $state({ status: 'off' });

const listeners = new Set();
let source = null;
let resumable = false; // the current source has an event id to resume from
let retryMs = RETRY_MIN_MS;
let retryTimer = null;
let lingerTimer = null;

function emit(event) {
	for (const listener of [...listeners]) listener(event);
}

function open() {
	if (source) return;
	live.status = 'connecting';
	if (document.visibilityState === 'hidden') return; // opened when shown
	const current = new EventSource(EVENTS_URL);
	source = current;
	resumable = false;
	current.onopen = () => {
		live.status = 'open';
		retryMs = RETRY_MIN_MS;
		// A reconnect that sent Last-Event-ID gets the missed events replayed.
		if (!resumable) emit({ type: 'events.reset', data: {} });
	};
	current.onmessage = (message) => {
		let event;
		try {
			event = JSON.parse(message.data);
		} catch {
			return; // not an event of ours
		}
		if (message.lastEventId) resumable = true;
		emit(event);
	};
	current.onerror = () => {
		// CONNECTING: the browser retries by itself. CLOSED: it gave up (an HTTP error).
		if (current.readyState !== EventSource.CLOSED) {
			live.status = 'connecting';
			return;
		}
		close();
		live.status = 'connecting';
		retryTimer = setTimeout(() => {
			retryTimer = null;
			if (listeners.size) open();
		}, retryMs);
		retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
	};
}

function close() {
	clearTimeout(retryTimer);
	retryTimer = null;
	source?.close();
	source = null;
	live.status = listeners.size ? 'connecting' : 'off';
}

function visibilityChanged() {
	if (document.visibilityState === 'hidden') close();
	else if (listeners.size) open();
}

/** Call `listener(event)` for every event until the returned function is called. */
export function listen(listener) {
	if (!listeners.size) document.addEventListener('visibilitychange', visibilityChanged);
	listeners.add(listener);
	clearTimeout(lingerTimer);
	if (!source && !retryTimer) open();
	return () => {
		listeners.delete(listener);
		if (listeners.size) return;
		document.removeEventListener('visibilitychange', visibilityChanged);
		clearTimeout(lingerTimer);
		lingerTimer = setTimeout(() => {
			if (!listeners.size) close();
		}, LINGER_MS);
	};
}

/** `listen` for the lifetime of the calling component (call during its initialisation). */
export function onLiveEvent(listener) {
	onMount(() => listen(listener));
}

/**
 * `fn` called at most once per `wait` ms however often the result is called: a burst
 * of events becomes one reload, at most `wait` ms after the first of them.
 */
export function batched(fn, wait = 250) {
	let timer = null;
	const call = () => {
		timer ??= setTimeout(() => {
			timer = null;
			fn();
		}, wait);
	};
	call.cancel = () => {
		clearTimeout(timer);
		timer = null;
	};
	return call;
}

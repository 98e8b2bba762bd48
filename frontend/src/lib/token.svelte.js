// The write token is pasted once and kept in localStorage so it survives reloads,
// together with the name the server gave for it (GET /api/token); a rune-backed
// store lets every page react when it is set or cleared.

const KEY = 'onebin.token';
const NAME_KEY = 'onebin.token.name';

export const tokenState = $state({ value: read(KEY), name: read(NAME_KEY) });

function read(key) {
	try {
		return localStorage.getItem(key) ?? '';
	} catch {
		return '';
	}
}

function write(key, value) {
	try {
		if (value) localStorage.setItem(key, value);
		else localStorage.removeItem(key);
	} catch {
		// Storage disabled: the token still works until the page is closed.
	}
}

export function getToken() {
	return tokenState.value;
}

/** Keep a token the server has accepted, with the name it answered. */
export function setToken(value, name) {
	tokenState.value = value.trim();
	tokenState.name = tokenState.value ? name : '';
	write(KEY, tokenState.value);
	write(NAME_KEY, tokenState.name);
}

export function forgetToken() {
	setToken('', '');
}

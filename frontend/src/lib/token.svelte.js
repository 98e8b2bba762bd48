// The write token is pasted once and kept in localStorage so it survives reloads;
// a rune-backed store lets every page react when it is set or cleared.

const KEY = 'onebin.token';

export const tokenState = $state({ value: read() });

function read() {
	try {
		return localStorage.getItem(KEY) ?? '';
	} catch {
		return '';
	}
}

export function getToken() {
	return tokenState.value;
}

export function setToken(value) {
	const token = value.trim();
	tokenState.value = token;
	if (token) localStorage.setItem(KEY, token);
	else localStorage.removeItem(KEY);
}

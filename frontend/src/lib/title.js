// Every page's <title> names the page first and ends with the app's name, so tabs,
// history and the route announcer say where you are.
export const APP_NAME = 'onebin items';

export const pageTitle = (part) => (part ? `${part} – ${APP_NAME}` : APP_NAME);

export { parseTtl, signToken, type TokenRequest } from './tokens';

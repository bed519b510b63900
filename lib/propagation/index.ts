export { bindEmitter, bindToCurrentContext, getCurrentConfig } from './bind';

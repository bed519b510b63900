export { StructuredTool, tool, type ToolFunction, type ToolOptions, type ToolSchema } from './tool';

// What an app that imports `Holdfast` names when it uses the server and the client: messages,
// close codes and outcomes, settings, upgrade decisions, errors, reconnect policy, URLs and the
// HTTP proxy. Each type is re-exported by name; the protocol machinery of `HoldfastCore` (frame
// parser, serializer, masking, the connection state machine) and the NIO handlers stay in their
// own modules, for the few who build on them directly.
@_exported import struct HoldfastCore.AnnouncedLimits
@_exported import struct HoldfastCore.CloseCode
@_exported import struct HoldfastCore.CloseFrame
@_exported import struct HoldfastCore.CloseOutcome
@_exported import struct HoldfastCore.HandshakeError
@_exported import struct HoldfastCore.PerMessageDeflateConfiguration
@_exported import struct HoldfastCore.PerMessageDeflateParameters
@_exported import struct HoldfastCore.PlainHTTPResponse
@_exported import struct HoldfastCore.ReconnectPolicy
@_exported import struct HoldfastCore.ServerProtections
@_exported import enum HoldfastCore.Role
@_exported import enum HoldfastCore.UpgradeDecision
@_exported import struct HoldfastCore.UpgradeRequest
@_exported import struct HoldfastCore.WebSocketConfiguration
@_exported import struct HoldfastCore.WebSocketError
@_exported import struct HoldfastCore.WebSocketFragment
@_exported import struct HoldfastCore.WebSocketMessage
@_exported import struct HoldfastCore.WebSocketURL
@_exported import struct HoldfastNIO.HTTPProxy
@_exported import struct HoldfastNIO.HTTPProxyError
@_exported import struct HoldfastNIO.UpgradeRefusal

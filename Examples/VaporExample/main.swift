#if Vapor
import Vapor
#else
import Foundation
FileHandle.standardError.write(Data("vapor-example: build with --traits Vapor\n".utf8))
exit(1)
#endif

#if Vapor
import Vapor
#endif

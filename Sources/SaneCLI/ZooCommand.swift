import ArgumentParser
import Sane

/// `sane zoo …`: inspect, evaluate, convert and generate model zoos.
struct ZooCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zoo",
        abstract: "Inspect, evaluate, convert and train model zoos (Model Zoos layout).",
        subcommands: [ZooInfoCommand.self, ZooEvalCommand.self, ZooConvertCommand.self, ZooTrainCommand.self]
    )
}
